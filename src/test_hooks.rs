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

/// `KUBEUP_DIE_AFTER_WRITES=N`: the process dies (exit 137, as if SIGKILLed: no rollback, no
/// record saved) right after its N-th file write, so that tests can stop a run between any two
/// writes — e.g. between a private key and its certificate.
pub fn file_written() {
    #[cfg(feature = "test-hooks")]
    {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static WRITES: AtomicUsize = AtomicUsize::new(0);
        if let Some(n) = std::env::var("KUBEUP_DIE_AFTER_WRITES").ok().and_then(|v| v.parse::<usize>().ok()) {
            if WRITES.fetch_add(1, Ordering::SeqCst) + 1 == n {
                std::process::exit(137);
            }
        }
    }
}
