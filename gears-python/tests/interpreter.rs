//! Starting the interpreter: options, idempotence, C extension modules and threads.
//!
//! This test binary starts Python with an extra site directory and a custom switch
//! interval, so every test goes through [`started`].

use std::path::PathBuf;
use std::sync::{Arc, Barrier, OnceLock};
use std::time::Duration;

use gears_python::interpreter::libpython_path;
use gears_python::pyo3::prelude::*;
use gears_python::{is_started, start, Session, StartOptions};

/// A directory under cargo's scratch space for integration tests, holding a module
/// and a `.pth` file (rewritten by every run).
fn site_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gears-python-site");
        let extra = dir.join("extra");
        std::fs::create_dir_all(&extra).expect("create the site directory");
        std::fs::write(
            dir.join("gears_site_probe.py"),
            "VALUE = 'from the site dir'\n",
        )
        .expect("write the module");
        std::fs::write(
            extra.join("gears_pth_probe.py"),
            "VALUE = 'through a .pth file'\n",
        )
        .expect("write the .pth module");
        std::fs::write(dir.join("probe.pth"), "extra\n").expect("write the .pth file");
        dir
    })
}

fn options() -> StartOptions {
    StartOptions {
        module_search_paths: vec![site_dir().clone()],
        switch_interval: Duration::from_micros(2500),
        ..StartOptions::default()
    }
}

fn started() {
    start(&options()).expect("the interpreter starts");
}

fn run(source: &str) {
    started();
    Python::attach(|py| {
        Session::new(py)
            .expect("session")
            .run_script(py, source.as_bytes(), true)
            .unwrap_or_else(|error| panic!("{source}\n{error}"));
    });
}

#[test]
fn start_is_idempotent() {
    started();
    assert!(is_started());
    // Different options later change nothing and do not fail.
    start(&StartOptions::default()).expect("a second start is a no-op");
    let from_threads: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| start(&StartOptions::default())))
        .collect();
    for handle in from_threads {
        handle.join().expect("no panic").expect("no-op");
    }
    run("import sys\nassert sys.getswitchinterval() == 0.0025, sys.getswitchinterval()");
}

#[test]
fn sys_executable_is_the_build_interpreter() {
    let expected = gears_python::interpreter::BUILD_PYTHON.expect("PYO3_PYTHON is set");
    run(&format!(
        "import sys\nassert sys.executable == {expected:?}, sys.executable\nassert sys.prefix == '/usr', sys.prefix"
    ));
}

#[test]
fn libpython_is_found() {
    started();
    let path = libpython_path().expect("recorded");
    let name = path.file_name().expect("a file").to_string_lossy();
    assert!(name.starts_with("libpython3.11"), "{}", path.display());
}

#[test]
fn the_configuration_is_isolated_and_utf8() {
    run("import sys\n\
         assert sys.flags.isolated == 1, sys.flags\n\
         assert sys.flags.utf8_mode == 1, sys.flags\n\
         assert sys.flags.no_site == 0, sys.flags\n\
         assert sys.flags.no_user_site == 1, sys.flags\n\
         assert sys.version_info[:2] == (3, 11), sys.version_info\n\
         assert 'site' in sys.modules\n\
         assert 'threading' in sys.modules\n");
}

/// Python installs no C signal handler (with `install_signal_handlers` it would take
/// SIGINT and ignore SIGXFSZ; SIGPIPE is not checked, the Rust runtime ignores it in
/// every test binary already). No test of this binary imports `signal`:
/// that import takes SIGINT when its handler is still the default, as in this test
/// process (in Redis, Redis' own handler is there and Python leaves it alone).
#[test]
fn no_signal_handler_is_installed() {
    started();
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGXFSZ] {
        let mut current = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
        // SAFETY: a null new action only reads the current one into `current`, which
        // is valid writable memory for a sigaction.
        let status = unsafe { libc::sigaction(signal, std::ptr::null(), current.as_mut_ptr()) };
        assert_eq!(status, 0);
        // SAFETY: sigaction succeeded, so it filled `current`.
        let current = unsafe { current.assume_init() };
        assert_eq!(current.sa_sigaction, libc::SIG_DFL, "signal {signal}");
    }
    run("import sys\nassert '_signal' not in sys.modules");
}

#[test]
fn site_directories_are_appended_with_their_pth_files() {
    run("import sys, gears_site_probe, gears_pth_probe\n\
         assert gears_site_probe.VALUE == 'from the site dir'\n\
         assert gears_pth_probe.VALUE == 'through a .pth file'\n");
    started();
    Python::attach(|py| {
        let path: Vec<String> = py
            .import("sys")
            .and_then(|sys| sys.getattr("path"))
            .and_then(|path| path.extract())
            .expect("sys.path");
        let dir = site_dir().to_string_lossy().into_owned();
        let position = path
            .iter()
            .position(|entry| *entry == dir)
            .expect("on sys.path");
        let stdlib = path
            .iter()
            .position(|entry| entry.ends_with("/python3.11"))
            .expect("the standard library is on sys.path");
        assert!(stdlib < position, "{path:?}");
    });
}

#[test]
fn c_extension_modules_import() {
    run("import json, decimal, ctypes, _json, _decimal, _ctypes\n\
         assert json.loads('{\"a\": [1, 2.5]}') == {'a': [1, 2.5]}\n\
         assert str(decimal.Decimal('1.10') + decimal.Decimal('2.205')) == '3.305'\n\
         assert ctypes.c_int(7).value == 7\n\
         assert ctypes.sizeof(ctypes.c_longlong) == 8\n");
}

#[test]
fn four_threads_run_scripts_concurrently() {
    started();
    const THREADS: usize = 4;
    const ROUNDS: usize = 25;
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                for round in 0..ROUNDS {
                    Python::attach(|py| {
                        let session = Session::new(py).expect("session");
                        let source = format!(
                            "me = ({thread}, {round})\n\
                             total = 0\n\
                             for i in range(20000):\n    total += i\n\
                             assert me == ({thread}, {round})\n"
                        );
                        session
                            .run_script(py, source.as_bytes(), true)
                            .unwrap_or_else(|error| panic!("{error}"));
                        let total: u64 = session
                            .globals(py)
                            .get_item("total")
                            .expect("lookup")
                            .expect("defined")
                            .extract()
                            .expect("an int");
                        assert_eq!(total, 19999 * 20000 / 2);
                        // Give the GIL away while doing Rust work, as pool threads will.
                        py.detach(|| std::thread::sleep(Duration::from_micros(100)));
                    });
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("the thread succeeded");
    }
}

#[test]
fn python_threads_started_by_scripts_run() {
    run("import threading\n\
         results = []\n\
         def work(n):\n    results.append(n * n)\n\
         threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]\n\
         for t in threads: t.start()\n\
         for t in threads: t.join()\n\
         assert sorted(results) == [n * n for n in range(8)], results\n");
}

#[test]
fn a_session_made_on_one_thread_runs_on_another() {
    started();
    let session = Python::attach(|py| {
        let session = Session::new(py).expect("session");
        session.run_script(py, b"counter = 1", true).expect("runs");
        session
    });
    let session = std::thread::spawn(move || {
        Python::attach(|py| {
            session.run_script(py, b"counter += 1", true).expect("runs");
        });
        session
    })
    .join()
    .expect("the thread succeeded");
    Python::attach(|py| {
        session
            .run_script(py, b"assert counter == 2", true)
            .expect("the state moved with the session");
    });
}
