//! A value the shell's own views follow (the status bar's parts, the outbox panel): setting it
//! runs every follower with the new value. The shell's views are a few elements each, set by
//! hand as the SDK's apps do; a framework for them cost the start path about 40 KB gzip.

use std::cell::RefCell;
use std::rc::Rc;

type Follower<T> = Rc<dyn Fn(&T)>;

pub struct Watched<T>(Rc<Inner<T>>);

struct Inner<T> {
    value: RefCell<T>,
    followers: RefCell<Vec<Follower<T>>>,
}

impl<T> Clone for Watched<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Clone + 'static> Watched<T> {
    pub fn new(value: T) -> Self {
        Self(Rc::new(Inner {
            value: RefCell::new(value),
            followers: RefCell::new(Vec::new()),
        }))
    }

    pub fn get(&self) -> T {
        self.0.value.borrow().clone()
    }

    pub fn set(&self, value: T) {
        *self.0.value.borrow_mut() = value;
        self.notify();
    }

    pub fn update(&self, change: impl FnOnce(&mut T)) {
        change(&mut self.0.value.borrow_mut());
        self.notify();
    }

    /// Runs `f` with the value now and after every change, for the life of the page.
    pub fn follow(&self, f: impl Fn(&T) + 'static) {
        f(&self.get());
        self.0.followers.borrow_mut().push(Rc::new(f));
    }

    /// Followers get a copy, so one may set this value again (the panel closing itself).
    fn notify(&self) {
        let value = self.get();
        let followers = self.0.followers.borrow().clone();
        for f in followers {
            f(&value);
        }
    }
}
