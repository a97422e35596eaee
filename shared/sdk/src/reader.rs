//! A view's reads, one at a time. Every outbox change and live event asks a view to read its
//! data again; during a replay of a thousand commands that was a thousand reads, each
//! converting the whole answer (a menu of a thousand items) on the app's thread, and an answer
//! read before a change could land after it. A [`Reader`] runs one read at a time: asked while
//! one runs, it reads once more when that one is done, however often it was asked meanwhile,
//! and shows only the answer of a read nobody asked past.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

/// Whether a read runs and whether it was asked for again meanwhile.
#[derive(Debug, Default)]
struct Turns {
    running: bool,
    again: bool,
}

impl Turns {
    /// Asked to read: whether to start now (else the running read reads once more after).
    fn ask(&mut self) -> bool {
        if self.running {
            self.again = true;
            return false;
        }
        self.running = true;
        true
    }

    /// A read finished: whether to read again (its answer may be older than what asked, so
    /// it is dropped) rather than show it and stop.
    fn finished(&mut self) -> bool {
        self.running = self.again;
        std::mem::take(&mut self.again)
    }
}

type Read<T> = Box<dyn Fn() -> Pin<Box<dyn Future<Output = T>>>>;

struct Inner<T> {
    turns: Cell<Turns>,
    read: Read<T>,
    show: Box<dyn Fn(T)>,
}

/// Reads with `read` and hands the newest answer to `show` (see the module's text); cloning
/// shares the reads.
pub struct Reader<T>(Rc<Inner<T>>);

impl<T> Clone for Reader<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: 'static> Reader<T> {
    pub fn new<F>(read: impl Fn() -> F + 'static, show: impl Fn(T) + 'static) -> Self
    where
        F: Future<Output = T> + 'static,
    {
        Self(Rc::new(Inner {
            turns: Cell::new(Turns::default()),
            read: Box::new(move || Box::pin(read())),
            show: Box::new(show),
        }))
    }

    /// Reads now, or once more after the read on its way.
    pub fn ask(&self) {
        if !self.turn(Turns::ask) {
            return;
        }
        let this = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            loop {
                let answer = (this.0.read)().await;
                if !this.turn(Turns::finished) {
                    (this.0.show)(answer);
                    return;
                }
            }
        });
    }

    fn turn(&self, step: fn(&mut Turns) -> bool) -> bool {
        let mut turns = self.0.turns.take();
        let go = step(&mut turns);
        self.0.turns.set(turns);
        go
    }
}

#[cfg(test)]
mod tests {
    use super::Turns;

    #[test]
    fn one_read_runs_and_asks_meanwhile_make_one_more() {
        let mut t = Turns::default();
        assert!(t.ask(), "the first ask starts a read");
        assert!(
            !t.ask() && !t.ask() && !t.ask(),
            "asks while it runs start none"
        );
        assert!(
            t.finished(),
            "asked meanwhile: read once more, drop this answer"
        );
        assert!(!t.finished(), "nobody asked since: show it and stop");
        assert!(t.ask(), "stopped: the next ask starts a read again");
    }

    #[test]
    fn a_read_nobody_asked_past_is_shown() {
        let mut t = Turns::default();
        assert!(t.ask());
        assert!(!t.finished());
        assert!(!t.running);
    }
}
