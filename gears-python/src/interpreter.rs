//! Starting the one embedded CPython of the process.
//!
//! RedisGears runs a single interpreter (no sub-interpreters) shared by every session,
//! every execution thread and the asyncio loop thread. [`start`] brings it up once, the
//! way a Redis module needs it:
//!
//! 1. libpython is re-opened `RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD`. Redis loads modules
//!    `RTLD_LOCAL`, so the libpython our module pulls in is local to it too, and C
//!    extension modules (`_json`, `_decimal`, `_ctypes`, …), which expect the C API in
//!    the global namespace, fail with undefined symbols. Promoting the already loaded
//!    library fixes that; the handle is never closed.
//! 2. The native `redisgears` module is added to the inittab, so that `import redisgears`
//!    works from the first line of the prelude.
//! 3. The interpreter is initialized through the `PyConfig` API: isolated (no
//!    environment variables, no user site directory, no current directory on
//!    `sys.path`), UTF-8 mode, no signal handlers (signals belong to Redis), no argv
//!    parsing, but with `site` imported so that site-packages work. Every `PyStatus`
//!    is checked and a failure becomes a [`StartError`], so the module load fails
//!    cleanly instead of the process exiting.
//! 4. `threading` is imported (it records the initializing thread as the main thread),
//!    the GIL switch interval is shortened, extra site directories are added, and the
//!    base globals of the sessions are built from the prelude.
//! 5. The GIL is released with `PyEval_SaveThread`, so that any thread can attach with
//!    [`Python::attach`]. The saved thread state is never restored by hand; the
//!    initializing thread attaches like every other one.
//!
//! The interpreter is never finalized: C extension modules do not survive a second
//! initialization, which is also why `MODULE UNLOAD` must be refused.

use std::ffi::{c_void, CStr, CString, OsStr};
use std::fmt;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr::addr_of_mut;
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::ffi;
use pyo3::prelude::*;

use crate::errors::error_text;
use crate::gears_module::redisgears;
use crate::session;

/// The GIL switch interval used unless [`StartOptions::switch_interval`] says otherwise.
///
/// CPython hands the GIL over every `sys.getswitchinterval()` (5 ms by default). While a
/// pool thread runs Python, a Redis main-thread callback that needs the GIL waits up to
/// that long, and the whole server waits with it. One millisecond keeps that wait short
/// at a small cost in throughput for long Python batches.
pub const DEFAULT_SWITCH_INTERVAL: Duration = Duration::from_millis(1);

/// How to start the interpreter.
#[derive(Clone, Debug, PartialEq)]
pub struct StartOptions {
    /// `PyConfig.program_name`: becomes `sys.executable` (what requirements run pip
    /// with) and is where CPython starts looking for its standard library. `None` lets
    /// CPython pick: it takes the first `python3` on `PATH` (a pyenv shim, say, that
    /// does not match the libpython we link) and falls back to its compiled-in prefix.
    /// The default is [`BUILD_PYTHON`], the interpreter whose libpython this crate
    /// was built against.
    pub program_name: Option<PathBuf>,
    /// `PyConfig.home` (like `PYTHONHOME`): the prefix that holds `lib/python3.11`.
    /// `None` lets CPython compute it.
    pub home: Option<PathBuf>,
    /// Directories appended to `sys.path` after start-up, in order, with
    /// `site.addsitedir` (so `.pth` files in them are honoured, as pip-installed
    /// packages need). A directory that does not exist yet is still added. This is
    /// where the module puts the requirements it installs and `cloudpickle`.
    pub module_search_paths: Vec<PathBuf>,
    /// The value given to `sys.setswitchinterval`; must be positive.
    pub switch_interval: Duration,
}

/// The Python executable this crate was built against (`PYO3_PYTHON` at build time,
/// `/usr/bin/python3.11` with the workspace's `.cargo/config.toml`), if known.
pub const BUILD_PYTHON: Option<&str> = option_env!("PYO3_PYTHON");

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            program_name: BUILD_PYTHON.map(PathBuf::from),
            home: None,
            module_search_paths: Vec::new(),
            switch_interval: DEFAULT_SWITCH_INTERVAL,
        }
    }
}

/// Why the interpreter could not start.
///
/// A failed start is final for the process: CPython cannot be initialized twice, so
/// every later [`start`] returns the same error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartError {
    /// Something else in this process already initialized CPython, so it could not
    /// be configured the way gears-rs needs it.
    AlreadyInitialized,
    /// libpython could not be located or promoted to `RTLD_GLOBAL`.
    LibPython(String),
    /// An option cannot be handed to CPython (a path with a NUL byte).
    InvalidOption(String),
    /// A start-up step of the C API returned a failed `PyStatus`.
    Status {
        /// The C API call that failed.
        step: &'static str,
        /// The status' `func` and `err_msg` (or exit code).
        message: String,
    },
    /// Python code run during start-up raised.
    Python {
        /// What was being done.
        step: &'static str,
        /// The exception, formatted as [`error_text`] does with a traceback.
        text: String,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::AlreadyInitialized => {
                f.write_str("a Python interpreter is already running in this process")
            }
            StartError::LibPython(message) => {
                write!(f, "could not make libpython global: {message}")
            }
            StartError::InvalidOption(message) => write!(f, "invalid Python option: {message}"),
            StartError::Status { step, message } => write!(f, "{step} failed: {message}"),
            StartError::Python { step, text } => write!(f, "{step} failed: {text}"),
        }
    }
}

impl std::error::Error for StartError {}

/// The outcome of the one start of this process.
static STARTED: OnceLock<Result<(), StartError>> = OnceLock::new();

/// The file libpython was found in.
static LIBPYTHON_PATH: OnceLock<PathBuf> = OnceLock::new();

/// Starts the embedded interpreter, once per process.
///
/// The first call does the work (see the module documentation) and returns with the
/// GIL released; later calls, from any thread, return the outcome of the first one
/// without doing anything (their options are ignored). Concurrent first calls wait
/// for the one that runs.
pub fn start(options: &StartOptions) -> Result<(), StartError> {
    STARTED.get_or_init(|| start_once(options)).clone()
}

/// True once [`start`] has succeeded, i.e. [`Python::attach`] may be used.
pub fn is_started() -> bool {
    matches!(STARTED.get(), Some(Ok(())))
}

/// The libpython file that [`start`] promoted to `RTLD_GLOBAL` (for the log).
pub fn libpython_path() -> Option<&'static Path> {
    LIBPYTHON_PATH.get().map(PathBuf::as_path)
}

fn start_once(options: &StartOptions) -> Result<(), StartError> {
    // SAFETY: Py_IsInitialized may be called at any time, even before initialization.
    if unsafe { ffi::Py_IsInitialized() } != 0 {
        return Err(StartError::AlreadyInitialized);
    }
    let path = promote_libpython()?;
    // Only the first start reaches this line, so the path is never set twice.
    let _ = LIBPYTHON_PATH.set(path);

    // The inittab can only be extended before initialization; the macro checks that.
    pyo3::append_to_inittab!(redisgears);

    initialize(options)?;

    // Release the GIL when leaving, whatever `prepare` says and even if it panics: the
    // interpreter is initialized, and a GIL kept by this thread would block every other
    // thread forever.
    let _release = ReleaseGilOnDrop;
    // This thread holds the GIL now (Py_InitializeFromConfig leaves it so); pyo3 sees
    // that and attaches without taking it again.
    Python::attach(|py| prepare(py, options))
}

/// Releases the GIL that initialization left with this thread.
struct ReleaseGilOnDrop;

impl Drop for ReleaseGilOnDrop {
    fn drop(&mut self) {
        // The returned thread state stays bound to this OS thread: a later attach from
        // this thread finds and reuses it through PyGILState_Ensure, so it is not kept
        // (and never restored by hand).
        // SAFETY: only created right after a successful initialization, which leaves the
        // GIL with this thread; `Python::attach` above released only what it took.
        let _ = unsafe { ffi::PyEval_SaveThread() };
    }
}

/// Re-opens the libpython this code is linked against as `RTLD_GLOBAL`.
fn promote_libpython() -> Result<PathBuf, StartError> {
    // Any function of the C API lives in libpython; its address tells dladdr which file
    // that is. (In a PIE executable or a shared object the address of an imported
    // function is its real address in libpython, not a PLT stub.)
    let symbol = ffi::Py_IsInitialized as unsafe extern "C" fn() -> std::ffi::c_int;
    let mut info = MaybeUninit::<libc::Dl_info>::zeroed();
    // SAFETY: `info` points to writable memory of the right type; the address is that
    // of a function of a loaded object.
    let found = unsafe { libc::dladdr(symbol as *const c_void, info.as_mut_ptr()) };
    // SAFETY: zero-initialized Dl_info is valid (null pointers), and dladdr only writes
    // valid values into it.
    let info = unsafe { info.assume_init() };
    if found == 0 || info.dli_fname.is_null() {
        return Err(StartError::LibPython(
            "dladdr does not know which file holds the Python C API".to_owned(),
        ));
    }
    // SAFETY: dladdr returned a NUL-terminated path owned by the dynamic linker, valid
    // while the object is loaded (forever: we never close it). It is copied at once.
    let file = unsafe { CStr::from_ptr(info.dli_fname) }.to_owned();
    let path = PathBuf::from(OsStr::from_bytes(file.to_bytes()));

    // SAFETY: `file` is a valid C string; RTLD_NOLOAD only returns a handle to an
    // object that is already loaded, and never runs constructors again.
    let handle = unsafe {
        libc::dlopen(
            file.as_ptr(),
            libc::RTLD_NOW | libc::RTLD_GLOBAL | libc::RTLD_NOLOAD,
        )
    };
    if handle.is_null() {
        return Err(StartError::LibPython(format!(
            "dlopen({}) failed: {}",
            path.display(),
            last_dl_error()
        )));
    }
    // The handle is kept open forever (never dlclose'd): extension modules loaded later
    // resolve their symbols through it.
    Ok(path)
}

/// The text of the last dynamic-linker error.
fn last_dl_error() -> String {
    // SAFETY: dlerror returns null or a NUL-terminated string valid until the next
    // dl* call on this thread; it is copied before anything else runs.
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        return "unknown error".to_owned();
    }
    // SAFETY: see above: non-null and NUL-terminated.
    unsafe { CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned()
}

/// A `PyConfig` that is cleared (its strings freed) when dropped.
struct Config(Box<ffi::PyConfig>);

impl Config {
    /// An isolated configuration, as `PyConfig_InitIsolatedConfig` makes it.
    fn isolated() -> Config {
        // All-zero is a valid PyConfig (ints and null pointers); the init function
        // overwrites every field anyway.
        // SAFETY: PyConfig is a plain C struct of integers and pointers, for which all
        // zero bits are a valid value.
        let mut config = Box::new(unsafe { MaybeUninit::<ffi::PyConfig>::zeroed().assume_init() });
        // SAFETY: `config` points to a PyConfig we own; the function only writes it.
        unsafe { ffi::PyConfig_InitIsolatedConfig(&mut *config) };
        Config(config)
    }

    fn as_mut_ptr(&mut self) -> *mut ffi::PyConfig {
        &mut *self.0
    }

    /// Sets one of the string fields of the configuration from a path.
    fn set_path(
        &mut self,
        field: fn(*mut ffi::PyConfig) -> *mut *mut libc::wchar_t,
        step: &'static str,
        path: &Path,
    ) -> Result<(), StartError> {
        let value = CString::new(path.as_os_str().as_bytes()).map_err(|_| {
            StartError::InvalidOption(format!("{step}: {} contains a NUL byte", path.display()))
        })?;
        let config = self.as_mut_ptr();
        // SAFETY: `config` is a live, initialized PyConfig and `field` returns a pointer
        // to one of its wchar_t* fields; `value` is a valid C string. CPython decodes
        // it (UTF-8 mode is on) and stores its own copy.
        let status = unsafe { ffi::PyConfig_SetBytesString(config, field(config), value.as_ptr()) };
        check_status(step, status)
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        // SAFETY: the config was initialized by PyConfig_InitIsolatedConfig; clearing
        // frees the strings CPython allocated for it, and is allowed after
        // initialization (the interpreter keeps its own copy).
        unsafe { ffi::PyConfig_Clear(&mut *self.0) };
    }
}

/// Pre-initializes and initializes CPython; on success this thread holds the GIL.
fn initialize(options: &StartOptions) -> Result<(), StartError> {
    let mut preconfig = MaybeUninit::<ffi::PyPreConfig>::zeroed();
    // SAFETY: `preconfig` points to writable memory for a PyPreConfig; the function
    // initializes every field.
    unsafe { ffi::PyPreConfig_InitIsolatedConfig(preconfig.as_mut_ptr()) };
    // SAFETY: initialized just above.
    let mut preconfig = unsafe { preconfig.assume_init() };
    // UTF-8 mode: file names, stdio and `open()` default to UTF-8 whatever the locale of
    // the Redis process is.
    preconfig.utf8_mode = 1;
    // SAFETY: `preconfig` is a valid, initialized PyPreConfig.
    check_status("Py_PreInitialize", unsafe {
        ffi::Py_PreInitialize(&preconfig)
    })?;

    let mut config = Config::isolated();
    {
        let raw = &mut *config.0;
        // Signals belong to Redis: no SIGINT handler, hence no KeyboardInterrupt.
        raw.install_signal_handlers = 0;
        raw.parse_argv = 0;
        // `site` adds the site-packages / dist-packages directories (and runs .pth files).
        raw.site_import = 1;
    }
    if let Some(program_name) = &options.program_name {
        config.set_path(
            // SAFETY: the closure is only called with the live config pointer.
            |c| unsafe { addr_of_mut!((*c).program_name) },
            "PyConfig_SetBytesString(program_name)",
            program_name,
        )?;
    }
    if let Some(home) = &options.home {
        config.set_path(
            // SAFETY: the closure is only called with the live config pointer.
            |c| unsafe { addr_of_mut!((*c).home) },
            "PyConfig_SetBytesString(home)",
            home,
        )?;
    }
    // SAFETY: `config` is a valid, initialized PyConfig; CPython copies what it needs.
    check_status("Py_InitializeFromConfig", unsafe {
        ffi::Py_InitializeFromConfig(config.as_mut_ptr())
    })
}

/// Turns a failed `PyStatus` into a [`StartError`].
fn check_status(step: &'static str, status: ffi::PyStatus) -> Result<(), StartError> {
    // SAFETY: PyStatus_Exception only reads the struct passed by value.
    if unsafe { ffi::PyStatus_Exception(status) } == 0 {
        return Ok(());
    }
    // SAFETY: as above.
    let message = if unsafe { ffi::PyStatus_IsExit(status) } != 0 {
        format!("exit with code {}", status.exitcode)
    } else {
        let text = |pointer: *const std::ffi::c_char| {
            // SAFETY: CPython fills these with null or static NUL-terminated strings.
            (!pointer.is_null()).then(|| unsafe { CStr::from_ptr(pointer) }.to_string_lossy())
        };
        match (text(status.func), text(status.err_msg)) {
            (Some(func), Some(message)) => format!("{func}: {message}"),
            (None, Some(message)) => message.into_owned(),
            (Some(func), None) => format!("{func}: unknown error"),
            (None, None) => "unknown error".to_owned(),
        }
    };
    Err(StartError::Status { step, message })
}

/// Everything that runs Python code during start-up, with the GIL held.
fn prepare(py: Python<'_>, options: &StartOptions) -> Result<(), StartError> {
    let python_error = |step: &'static str| {
        move |error: PyErr| StartError::Python {
            step,
            text: error_text(py, &error, true),
        }
    };
    // Importing threading here makes the initializing thread threading's main thread,
    // and sets up what threads created later by scripts need.
    py.import("threading")
        .map_err(python_error("import threading"))?;

    py.import("sys")
        .and_then(|sys| {
            sys.call_method1(
                "setswitchinterval",
                (options.switch_interval.as_secs_f64(),),
            )
        })
        .map_err(python_error("sys.setswitchinterval"))?;

    if !options.module_search_paths.is_empty() {
        let site = py.import("site").map_err(python_error("import site"))?;
        for path in &options.module_search_paths {
            site.call_method1("addsitedir", (path.as_os_str(),))
                .map_err(python_error("site.addsitedir"))?;
        }
    }

    session::init_base_globals(py).map_err(|error| StartError::Python {
        step: "running the prelude",
        text: error.text,
    })
}
