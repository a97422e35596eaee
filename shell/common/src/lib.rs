//! What both of the shell's modules use: the start module (`shell`, what draws the first page)
//! and the platform module (`shell/platform`, the data layer and the status bar). Each module
//! links its own copy; nothing here holds state that the two must share (that goes through the
//! page: `window.__tessera`, the bus, the bridge in `shell::platform`).

pub mod bus;
pub mod debug;
pub mod js;
pub mod watched;
