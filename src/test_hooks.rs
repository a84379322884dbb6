//! Hooks that exist only for kubeup's own tests (fault injection, fake `/proc`, skipping the
//! host effects on scratch roots). They are compiled in only with the `test-hooks` feature,
//! which the test builds turn on (a dev-dependency of the crate on itself) and the release
//! binary and the image never have: there, [`test_hook!`](crate::test_hook) is `None` and the
//! variable names are not even in the binary (`scripts/check-release-hooks` verifies it).

/// The value of a test-hook environment variable, or `None` outside test builds.
#[macro_export]
macro_rules! test_hook {
    ($name:literal) => {{
        #[cfg(feature = "test-hooks")]
        let v: Option<String> = std::env::var($name).ok();
        #[cfg(not(feature = "test-hooks"))]
        let v: Option<String> = None;
        v
    }};
}
