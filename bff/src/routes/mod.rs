//! One module per micro-app base path, plus the event log.

pub mod batch;
pub mod cart;
pub mod events;
pub mod live;
pub mod offline;
pub mod orders;
pub mod restaurants;
