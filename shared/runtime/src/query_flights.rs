//! One request per query at a time. During a replay every confirmed command is a live event,
//! and each event makes every app showing the data ask for it again: a thousand commands
//! were a thousand reads of the same query, each with the outbox overlaid, all in flight at
//! once and all but the last thrown away by the app. Here a caller shares the request on its
//! way if nothing changed since it went out (its answer is as current as a new one), else the
//! next one, which goes out when the current one is back; so at most two requests per query
//! exist, answers land in the order they were asked, and reads per second are bounded by the
//! time a read takes instead of growing with the events.
//!
//! This is the bookkeeping only (which flight a caller boards); the flights themselves are
//! its users': the BFF client's requests, and the shell's calls of them for its apps.

use std::collections::HashMap;
use std::hash::Hash;

/// Which flight a caller takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boarding {
    /// The flight with this id, which has not gone out or went out with nothing changed since.
    Join(u64),
    /// A new flight `id`, to go out once the flight `behind` (if any) is back.
    Queue { id: u64, behind: Option<u64> },
}

#[derive(Debug)]
struct Flight<G> {
    id: u64,
    /// What had changed when it went out (`None`: it has not yet).
    asked: Option<G>,
}

/// The latest flight of each query.
#[derive(Debug)]
pub struct Flights<K, G> {
    latest: HashMap<K, Flight<G>>,
    next_id: u64,
}

impl<K, G> Default for Flights<K, G> {
    fn default() -> Self {
        Flights {
            latest: HashMap::new(),
            next_id: 0,
        }
    }
}

impl<K: Eq + Hash, G: PartialEq + Copy> Flights<K, G> {
    /// A caller wants `key` answered by a request that goes out with `now` (the count of
    /// changes so far) or later.
    pub fn board(&mut self, key: K, now: G) -> Boarding {
        match self.latest.get(&key) {
            Some(f) if f.asked.is_none_or(|asked| asked == now) => Boarding::Join(f.id),
            latest => {
                let behind = latest.map(|f| f.id);
                self.next_id += 1;
                let id = self.next_id;
                self.latest.insert(key, Flight { id, asked: None });
                Boarding::Queue { id, behind }
            }
        }
    }

    /// Flight `id` of `key` goes out now, with `asked` the changes so far.
    pub fn took_off(&mut self, key: &K, id: u64, asked: G) {
        if let Some(f) = self.latest.get_mut(key).filter(|f| f.id == id) {
            f.asked = Some(asked);
        }
    }

    /// Flight `id` of `key` is back: later callers need a new one.
    pub fn landed(&mut self, key: &K, id: u64) {
        if self.latest.get(key).is_some_and(|f| f.id == id) {
            self.latest.remove(key);
        }
    }

    /// Queries with a flight on its way or waiting.
    pub fn len(&self) -> usize {
        self.latest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }
}

/// What a caller of [`Board::board`] does.
pub enum Boarded<F> {
    /// Takes flight `id`, already launched.
    Join(u64, F),
    /// Launches flight `id` ([`Board::launched`]), to go out once `behind` (if any) is back.
    Launch { id: u64, behind: Option<F> },
}

/// [`Flights`] with the flights themselves (`F`: a shared future or promise of the answer)
/// while they are on their way, for the users that share one value per flight.
pub struct Board<K, G, F> {
    flights: Flights<K, G>,
    in_air: HashMap<u64, F>,
}

impl<K, G, F> Default for Board<K, G, F> {
    fn default() -> Self {
        Board {
            flights: Flights::default(),
            in_air: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash, G: PartialEq + Copy, F: Clone> Board<K, G, F> {
    /// As [`Flights::board`], with the flight to take or to wait behind.
    pub fn board(&mut self, key: K, now: G) -> Boarded<F> {
        let in_air = |id| self.in_air.get(&id).cloned();
        match self.flights.board(key, now) {
            Boarding::Join(id) => match in_air(id) {
                Some(flight) => Boarded::Join(id, flight),
                // Not launched: its callers all landed (cannot happen while it is the latest).
                None => Boarded::Launch { id, behind: None },
            },
            Boarding::Queue { id, behind } => Boarded::Launch {
                id,
                behind: behind.and_then(in_air),
            },
        }
    }

    /// Flight `id`, which [`Board::board`] said to launch, is on its way as `flight`.
    pub fn launched(&mut self, id: u64, flight: F) {
        self.in_air.insert(id, flight);
    }

    /// As [`Flights::took_off`].
    pub fn took_off(&mut self, key: &K, id: u64, asked: G) {
        self.flights.took_off(key, id, asked);
    }

    /// As [`Flights::landed`], and the flight is let go.
    pub fn landed(&mut self, key: &K, id: u64) {
        self.flights.landed(key, id);
        self.in_air.remove(&id);
    }

    /// Whether every launched flight has landed.
    pub fn all_landed(&self) -> bool {
        self.in_air.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_board_hands_out_the_flight_to_join_or_to_wait_behind() {
        let mut b: Board<&str, u32, &str> = Board::default();
        let Boarded::Launch { id: first, behind } = b.board("/cart", 0) else {
            panic!("the first caller launches");
        };
        assert!(behind.is_none());
        b.launched(first, "answer 1");
        assert!(matches!(b.board("/cart", 0), Boarded::Join(id, "answer 1") if id == first));
        b.took_off(&"/cart", first, 0);
        let Boarded::Launch { id: second, behind } = b.board("/cart", 1) else {
            panic!("something changed since it went out: a new flight");
        };
        assert_eq!(behind, Some("answer 1"));
        b.launched(second, "answer 2");
        b.landed(&"/cart", first);
        assert!(matches!(b.board("/cart", 1), Boarded::Join(id, "answer 2") if id == second));
        assert!(!b.all_landed(), "the second is on its way");
        b.landed(&"/cart", second);
        assert!(b.all_landed());
        assert!(matches!(
            b.board("/cart", 1),
            Boarded::Launch { behind: None, .. }
        ));
    }

    fn queued(b: Boarding) -> u64 {
        match b {
            Boarding::Queue { id, .. } => id,
            Boarding::Join(id) => panic!("joined {id}, expected a new flight"),
        }
    }

    #[test]
    fn callers_with_nothing_changed_share_one_request() {
        let mut f = Flights::default();
        let first = f.board("/cart", 0);
        assert_eq!(
            first,
            Boarding::Queue {
                id: 1,
                behind: None
            }
        );
        assert_eq!(f.board("/cart", 0), Boarding::Join(1), "before it went out");
        f.took_off(&"/cart", 1, 0);
        assert_eq!(f.board("/cart", 0), Boarding::Join(1), "on its way");
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn a_caller_after_a_change_waits_for_the_next_request_and_later_ones_share_it() {
        let mut f = Flights::default();
        let first = queued(f.board("/menu", 0));
        f.took_off(&"/menu", first, 0);
        // A live event: the request on its way may miss it.
        let next = f.board("/menu", 1);
        assert_eq!(
            next,
            Boarding::Queue {
                id: 2,
                behind: Some(first)
            }
        );
        assert_eq!(f.board("/menu", 1), Boarding::Join(2));
        assert_eq!(
            f.board("/menu", 2),
            Boarding::Join(2),
            "not gone out yet: it will ask after this change too"
        );
        // The first lands: the queued one stays the latest.
        f.landed(&"/menu", first);
        assert_eq!(f.board("/menu", 2), Boarding::Join(2));
        f.took_off(&"/menu", 2, 2);
        assert_eq!(f.board("/menu", 2), Boarding::Join(2));
        assert_eq!(
            f.board("/menu", 3),
            Boarding::Queue {
                id: 3,
                behind: Some(2)
            }
        );
    }

    #[test]
    fn after_landing_the_next_caller_asks_anew() {
        let mut f = Flights::default();
        let id = queued(f.board("/cart", 0));
        f.took_off(&"/cart", id, 0);
        f.landed(&"/cart", id);
        assert!(f.is_empty());
        assert_eq!(
            f.board("/cart", 0),
            Boarding::Queue {
                id: 2,
                behind: None
            },
            "online without the live link, only the request on its way is shared"
        );
    }

    #[test]
    fn queries_and_users_have_their_own_flights() {
        let mut f = Flights::default();
        assert_eq!(queued(f.board(("alice", "/cart"), 0)), 1);
        assert_eq!(queued(f.board(("bob", "/cart"), 0)), 2);
        assert_eq!(queued(f.board(("alice", "/menu"), 0)), 3);
        assert_eq!(f.board(("alice", "/cart"), 0), Boarding::Join(1));
        f.landed(&("bob", "/cart"), 1);
        assert_eq!(f.len(), 3, "landing another query's id removes nothing");
    }
}
