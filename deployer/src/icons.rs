//! The PWA's icons, drawn and PNG-encoded at packaging time so a build needs no binary assets
//! and two builds give the same bytes: four tiles of a mosaic (a tessera is one of its tiles)
//! on the brand colour.

use flate2::write::ZlibEncoder;
use flate2::{Compression, Crc};
use std::io::Write;

const BRAND: [u8; 3] = [0x0f, 0x76, 0x6e];
const TILES: [[u8; 3]; 4] = [
    [0xe6, 0xff, 0xfa],
    [0xf5, 0x9e, 0x0b],
    [0x99, 0xf6, 0xe4],
    [0xff, 0xff, 0xff],
];

/// One icon the web app manifest declares.
pub struct Icon {
    /// Path inside the shell bundle.
    pub path: &'static str,
    pub size: u32,
    /// `any` or `maskable`.
    pub purpose: &'static str,
}

pub const ICONS: [Icon; 3] = [
    Icon {
        path: "icons/icon-192.png",
        size: 192,
        purpose: "any",
    },
    Icon {
        path: "icons/icon-512.png",
        size: 512,
        purpose: "any",
    },
    Icon {
        path: "icons/maskable-512.png",
        size: 512,
        purpose: "maskable",
    },
];

impl Icon {
    pub fn png(&self) -> Vec<u8> {
        // A maskable icon may be cropped to a circle of 80% of its size: keep the tiles inside.
        let margin = if self.purpose == "maskable" {
            0.3
        } else {
            0.16
        };
        encode_rgb(self.size, self.size, &draw(self.size, margin))
    }
}

/// RGB pixels, row by row: a 2×2 grid of tiles with gaps, inside `margin` of each side.
fn draw(size: u32, margin: f64) -> Vec<u8> {
    let s = f64::from(size);
    let (lo, hi) = (s * margin, s * (1.0 - margin));
    let cell = (hi - lo) / 2.0;
    let gap = cell * 0.08;
    let mut out = Vec::with_capacity((size * size * 3) as usize);
    for y in 0..size {
        for x in 0..size {
            let (fx, fy) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
            let inside = |v: f64| v >= lo && v < hi;
            let colour = if inside(fx) && inside(fy) {
                let (cx, cy) = (((fx - lo) / cell) as usize, ((fy - lo) / cell) as usize);
                let (ox, oy) = (fx - lo - cx as f64 * cell, fy - lo - cy as f64 * cell);
                let in_tile = |o: f64| o >= gap && o < cell - gap;
                if in_tile(ox) && in_tile(oy) {
                    TILES[cy.min(1) * 2 + cx.min(1)]
                } else {
                    BRAND
                }
            } else {
                BRAND
            };
            out.extend_from_slice(&colour);
        }
    }
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut crc = Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// A minimal PNG: 8-bit RGB, no interlace, filter type 0 on every row.
pub fn encode_rgb(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    assert_eq!(rgb.len(), (width * height * 3) as usize);
    let mut raw = Vec::with_capacity(rgb.len() + height as usize);
    for row in rgb.chunks(width as usize * 3) {
        raw.push(0);
        raw.extend_from_slice(row);
    }
    let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
    z.write_all(&raw).expect("writing to memory");
    let data = z.finish().expect("writing to memory");
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &data);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::ZlibDecoder;
    use std::io::Read;

    #[test]
    fn icons_are_pngs_of_their_declared_size_and_stable() {
        for icon in &ICONS {
            let png = icon.png();
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
            assert_eq!(&png[12..16], b"IHDR");
            let dim = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
            assert_eq!((dim(16), dim(20)), (icon.size, icon.size), "{}", icon.path);
            assert_eq!(png, icon.png(), "deterministic");
            // The IDAT stream inflates to one filter byte plus 3 bytes per pixel on each row.
            let len = dim(33) as usize;
            assert_eq!(&png[37..41], b"IDAT");
            let mut raw = Vec::new();
            ZlibDecoder::new(&png[41..41 + len])
                .read_to_end(&mut raw)
                .unwrap();
            assert_eq!(raw.len(), (icon.size * (icon.size * 3 + 1)) as usize);
        }
    }

    #[test]
    fn chunk_crc_matches_the_png_specification() {
        // The IEND chunk's CRC is fixed by the specification.
        let mut out = Vec::new();
        chunk(&mut out, b"IEND", &[]);
        assert_eq!(&out[8..], &[0xae, 0x42, 0x60, 0x82]);
    }

    #[test]
    fn maskable_tiles_stay_in_the_safe_zone() {
        let size = 100;
        let px = draw(size, 0.3);
        // 10% from the edge is outside the 80% circle's bounding box: brand colour only.
        let at = |x: u32, y: u32| &px[((y * size + x) * 3) as usize..][..3];
        assert_eq!(at(10, 50), BRAND);
        assert_ne!(at(35, 35), BRAND);
    }
}
