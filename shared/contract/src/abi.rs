//! The lifecycle ABI's version numbers, which the manifests and the shell check.

/// The lifecycle ABI this build of the contracts speaks. An app declares the ABI it was built
/// against in its `mfe.json`; the shell refuses to load an app whose ABI it does not speak.
/// ABI 2 adds the host services (`props.host`, see [`crate::host`]) to ABI 1's props; an ABI 1
/// app ignores them and runs as before.
pub const ABI_VERSION: u32 = 2;
/// Every ABI the shell can drive.
pub const SUPPORTED_ABIS: &[u32] = &[1, 2];
