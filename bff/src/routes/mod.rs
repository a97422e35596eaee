//! One module per micro-app base path, plus the event log, real-user monitoring, and the command runner that the
//! command routes and the batch share.

pub mod batch;
pub mod cart;
pub(crate) mod commands;
pub mod events;
pub mod live;
pub mod offline;
pub mod orders;
pub mod push;
pub mod restaurants;
pub mod rum;
