//! The page's memory of query answers. While the live connection is up, every change the
//! server makes to what a user may read reaches the page as a live event, so an answer stays
//! current until the next event, and a query asked again is answered from memory instead of
//! a round trip through the worker to the server (issue 17, "reads without a round trip").
//! While the browser is offline, nothing changes the worker's saved copies until it is back,
//! so a saved copy read once is kept too: the next read of it (the read before each click of
//! a user working offline) costs no trip to the worker.
//!
//! Anything that may have changed an answer forgets them all: a live event, the link going
//! up or down or the browser going on- or offline (events may have been missed in between),
//! an outbox announcement by another tab or the worker other than a command queued (a
//! command confirmed) and a session change. An answer whose request went out before such a change is not kept, so an older
//! read never lands after a newer change. Waiting commands are not in the remembered answers:
//! they are overlaid on each recall, so queueing one changes nothing here.

use std::collections::HashMap;

/// At most this many answers are kept; past it, the oldest generation starts over.
const MAX_ANSWERS: usize = 256;

/// Proof of when a request went out, for [`QueryMemory::keep`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Asked(u64);

/// Why remembered answers are current, if they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    /// Online with the live socket up: answers come from the server, changes as events.
    Live,
    /// The browser is offline: answers are the worker's saved copies, which nothing changes.
    Offline,
    /// Online without the socket (connecting, polling): every query asks.
    Unsure,
}

#[derive(Debug)]
pub struct QueryMemory<A> {
    live: bool,
    basis: Basis,
    /// Bumped by every change; an answer is kept only if none came since it was asked.
    generation: u64,
    answers: HashMap<(String, String), A>,
}

impl<A> Default for QueryMemory<A> {
    fn default() -> Self {
        QueryMemory {
            live: false,
            basis: Basis::Unsure,
            generation: 0,
            answers: HashMap::new(),
        }
    }
}

impl<A> QueryMemory<A> {
    /// Notes whether the browser is `online` now (each query does, first); a change of basis
    /// forgets every answer. Returns the basis.
    pub fn observe(&mut self, online: bool) -> Basis {
        let basis = match (online, self.live) {
            (false, _) => Basis::Offline,
            (true, true) => Basis::Live,
            (true, false) => Basis::Unsure,
        };
        if basis != self.basis {
            self.basis = basis;
            self.changed();
        }
        basis
    }

    /// Called as a request goes out.
    pub fn asking(&self) -> Asked {
        Asked(self.generation)
    }

    /// The answer to `path` for whoever holds `credential`, if one is current.
    pub fn recall(&self, credential: &str, path: &str) -> Option<&A> {
        if self.basis == Basis::Unsure {
            return None;
        }
        self.answers.get(&(credential.to_owned(), path.to_owned()))
    }

    /// Keeps `answer` if the basis holds and nothing changed since it was `asked`; whether it
    /// was kept.
    pub fn keep(&mut self, asked: Asked, credential: &str, path: &str, answer: A) -> bool {
        if self.basis == Basis::Unsure || asked.0 != self.generation {
            return false;
        }
        if self.answers.len() >= MAX_ANSWERS {
            self.answers.clear();
        }
        self.answers
            .insert((credential.to_owned(), path.to_owned()), answer);
        true
    }

    /// Something may have changed any answer: forget them all.
    pub fn changed(&mut self) {
        self.generation += 1;
        self.answers.clear();
    }

    /// The live link is up (`true`) or not; any change of it forgets every answer.
    pub fn set_live(&mut self, live: bool) {
        if live != self.live {
            self.live = live;
            self.changed();
            if self.basis != Basis::Offline {
                self.basis = if live { Basis::Live } else { Basis::Unsure };
            }
        }
    }

    pub fn len(&self) -> usize {
        self.answers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> QueryMemory<u32> {
        let mut m = QueryMemory::default();
        m.set_live(true);
        assert_eq!(m.observe(true), Basis::Live);
        m
    }

    #[test]
    fn an_answer_is_recalled_while_live_for_its_credential_and_path_only() {
        let mut m = live();
        let asked = m.asking();
        assert!(m.keep(asked, "token-a", "/api/cart", 1));
        assert_eq!(m.recall("token-a", "/api/cart"), Some(&1));
        assert_eq!(m.recall("token-b", "/api/cart"), None, "another user's");
        assert_eq!(m.recall("token-a", "/api/cart?x=1"), None);
    }

    #[test]
    fn nothing_is_kept_or_recalled_online_without_the_live_link() {
        let mut m = QueryMemory::default();
        assert_eq!(m.observe(true), Basis::Unsure);
        let asked = m.asking();
        assert!(!m.keep(asked, "t", "/q", 1), "not live");
        let mut m = live();
        let asked = m.asking();
        m.keep(asked, "t", "/q", 1);
        m.set_live(false);
        assert_eq!(m.recall("t", "/q"), None);
        m.set_live(true);
        assert_eq!(
            m.recall("t", "/q"),
            None,
            "events may have been missed meanwhile"
        );
    }

    #[test]
    fn a_change_forgets_every_answer() {
        let mut m = live();
        let asked = m.asking();
        m.keep(asked, "t", "/a", 1);
        m.keep(asked, "t", "/b", 2);
        m.changed();
        assert!(m.is_empty());
        assert_eq!(m.recall("t", "/a"), None);
    }

    #[test]
    fn an_answer_asked_before_a_change_is_not_kept() {
        // The read went out, a live event came, then the (older) answer arrived.
        let mut m = live();
        let asked = m.asking();
        m.changed();
        assert!(!m.keep(asked, "t", "/a", 1));
        assert_eq!(m.recall("t", "/a"), None);
        let again = m.asking();
        assert!(m.keep(again, "t", "/a", 2));
        assert_eq!(m.recall("t", "/a"), Some(&2));
    }

    #[test]
    fn an_answer_asked_before_the_link_came_up_is_not_kept() {
        let mut m = QueryMemory::default();
        m.observe(true);
        let asked = m.asking();
        m.set_live(true);
        assert!(!m.keep(asked, "t", "/a", 1));
    }

    #[test]
    fn offline_the_saved_copies_are_kept_until_the_browser_is_back() {
        let mut m = live();
        let asked = m.asking();
        m.keep(asked, "t", "/cart", 1);
        // The socket has not noticed yet; the browser has.
        assert_eq!(m.observe(false), Basis::Offline);
        assert_eq!(m.recall("t", "/cart"), None, "the live answer is forgotten");
        assert!(
            !m.keep(asked, "t", "/cart", 1),
            "asked before going offline"
        );
        let asked = m.asking();
        assert!(m.keep(asked, "t", "/cart", 2), "the worker's saved copy");
        m.set_live(false);
        let asked = m.asking();
        assert!(
            m.keep(asked, "t", "/cart", 3),
            "kept while the link retries"
        );
        assert_eq!(m.recall("t", "/cart"), Some(&3));
        m.observe(true);
        assert_eq!(
            m.recall("t", "/cart"),
            None,
            "online again: the server may know more"
        );
        assert!(
            !m.keep(m.asking(), "t", "/cart", 4),
            "online without the socket"
        );
    }

    #[test]
    fn memory_stays_bounded() {
        let mut m = live();
        let asked = m.asking();
        for n in 0..(MAX_ANSWERS as u32 + 10) {
            assert!(m.keep(asked, "t", &format!("/q/{n}"), n));
        }
        assert!(m.len() <= MAX_ANSWERS);
        assert_eq!(
            m.recall("t", &format!("/q/{}", MAX_ANSWERS + 9)),
            Some(&(MAX_ANSWERS as u32 + 9))
        );
    }
}
