//! Tessera's deployer: packages a build into a content-hashed bundle with its built `mfe.json`,
//! publishes bundles to an object store and merges every current app into the published
//! manifests (bundles first, manifests last), and serves a store over HTTP as a CDN would.

pub mod build;
pub mod cdn;
pub mod check;
pub mod dev;
pub mod icons;
pub mod merge;
pub mod package;
pub mod process;
pub mod publish;
pub mod registry;
pub mod scaffold;
pub use store::s3;
pub mod store;
pub mod toolchain;
pub mod verify;

pub use cdn::cdn_router;
pub use package::{package_app, package_shell, ShellManifest};
