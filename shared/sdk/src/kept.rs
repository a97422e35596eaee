//! Values a view holds until it goes away. Leptos's `StoredValue::new` wants `Send + Sync`,
//! which the page's listeners and elements are not; its `new_local` checks the thread on every
//! use through `std::thread::current`, whose thread handle std allocates with its own allocator
//! (dlmalloc), which an app would then carry beside its global one. [`keep`] puts the value in
//! a per-thread list instead and hands back a [`Kept`] that is `Send + Sync`: dropping it drops
//! the value.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};

thread_local! {
    static KEPT: RefCell<Vec<(u32, Box<dyn Any>)>> = const { RefCell::new(Vec::new()) };
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A value held by [`keep`]; dropping this drops it (on the thread that kept it; elsewhere the
/// value stays, as the list is per thread).
#[derive(Debug)]
#[must_use = "dropping it drops the kept value at once"]
pub struct Kept(u32);

/// Holds `value` until the returned [`Kept`] is dropped, e.g. for as long as a view lives:
/// `StoredValue::new(keep(listener))`.
pub fn keep<T: 'static>(value: T) -> Kept {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    KEPT.with(|k| k.borrow_mut().push((id, Box::new(value))));
    Kept(id)
}

impl Drop for Kept {
    fn drop(&mut self) {
        // Taken out first, dropped after: the value's own drop may keep or drop others.
        let gone = KEPT
            .try_with(|k| {
                let mut k = k.borrow_mut();
                let i = k.iter().position(|(id, _)| *id == self.0)?;
                Some(k.swap_remove(i))
            })
            .ok()
            .flatten();
        drop(gone);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn a_kept_value_lives_until_its_kept_is_dropped() {
        let (a, b) = (Rc::new(()), Rc::new(()));
        let kept_a = keep(a.clone());
        let kept_b = keep(b.clone());
        assert_eq!((Rc::strong_count(&a), Rc::strong_count(&b)), (2, 2));
        drop(kept_a);
        assert_eq!((Rc::strong_count(&a), Rc::strong_count(&b)), (1, 2));
        drop(kept_b);
        assert_eq!(Rc::strong_count(&b), 1);
    }

    #[test]
    fn a_kept_value_may_drop_another_as_it_goes() {
        let inner = Rc::new(());
        let outer = keep(keep(inner.clone()));
        drop(outer);
        assert_eq!(Rc::strong_count(&inner), 1);
    }
}
