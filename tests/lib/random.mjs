// Seeded randomness for tests whose plan is random but must be reproducible: the seed comes
// from `envName` when set, else is drawn and printed by the test.

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed named by `envName`, or a fresh one; with `random()` and `within(lo, hi)` over it. */
export function seeded(envName) {
  const seed = process.env[envName] ? Number(process.env[envName]) >>> 0 : Math.floor(Math.random() * 2 ** 32);
  const random = mulberry32(seed);
  const within = (lo, hi) => Math.floor(lo + random() * (hi - lo + 1));
  return { seed, random, within };
}
