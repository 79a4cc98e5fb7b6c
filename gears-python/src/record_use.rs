//! Whether a step's function can observe the record it is called with.
//!
//! A registration calls its function once per event, and making the record (a
//! dict of the key, its type and value) costs as much as a short callback does.
//! Many callbacks never look at it: `foreach(lambda r: execute('INCR', 'n'))`.
//! When the function's code provably never touches its first parameter, the
//! record is not made for it; the function gets `None`, which it cannot tell
//! apart. "Provably" is read off the bytecode, conservatively:
//!
//! - a plain Python function (not a builtin, a method, a partial or a callable
//!   object), whose first positional parameter is a named one;
//! - no instruction of its code reads, writes or deletes that local, or captures
//!   it in a closure (the name is not a cell variable either);
//! - its code names nothing that reaches a frame's locals (`locals`, `vars`,
//!   `eval`, `exec`, `dir`, `_getframe`, `currentframe`, `f_locals`, `breakpoint`,
//!   `settrace`, `setprofile`).
//!
//! Anything else, including any failure of the analysis, counts as reading it.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

/// The analysis, in Python: the `dis` module reads bytecode of every version.
const SOURCE: &std::ffi::CStr = cr#"
import dis, types

_INTROSPECTION = frozenset((
    'locals', 'vars', 'eval', 'exec', 'dir', '_getframe', 'currentframe',
    'f_locals', 'breakpoint', 'settrace', 'setprofile',
))

def reads_first_argument(function):
    if type(function) is not types.FunctionType:
        return True
    code = function.__code__
    if code.co_argcount + code.co_posonlyargcount < 1:
        return True
    name = code.co_varnames[0]
    if name in code.co_cellvars or _INTROSPECTION.intersection(code.co_names):
        return True
    for instruction in dis.get_instructions(code):
        value = instruction.argval
        if ('FAST' in instruction.opname or 'DEREF' in instruction.opname
                or 'CLOSURE' in instruction.opname or 'CELL' in instruction.opname):
            if value == name or (isinstance(value, tuple) and name in value):
                return True
    return False
"#;

/// Whether `function` may read (or otherwise observe) its first argument.
pub fn reads_first_argument(function: &Bound<'_, PyAny>) -> bool {
    static ANALYSIS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = function.py();
    let analysis = ANALYSIS.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        let module = PyModule::from_code(py, SOURCE, c"gears_record_use.py", c"gears_record_use")?;
        Ok(module.getattr("reads_first_argument")?.unbind())
    });
    let verdict = analysis.and_then(|analysis| {
        analysis
            .bind(py)
            .call1((function,))
            .and_then(|verdict| verdict.is_truthy())
    });
    verdict.unwrap_or_else(|error| {
        // An abort that landed in the analysis (it runs as the execution starts) is
        // the execution's: it is put back for the callback, which would otherwise
        // run unstopped.
        crate::gears_module::redeliver_abort(py, &error);
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::python;

    fn reads(source: &str) -> bool {
        python();
        Python::attach(|py| {
            let globals = pyo3::types::PyDict::new(py);
            py.run(
                &std::ffi::CString::new(source).expect("no NUL"),
                Some(&globals),
                None,
            )
            .expect("runs");
            let function = globals
                .get_item("f")
                .expect("lookup")
                .expect("f is defined");
            reads_first_argument(&function)
        })
    }

    #[test]
    fn a_function_that_ignores_its_record_does_not_read_it() {
        assert!(!reads("f = lambda r: execute('INCR', 'counter')"));
        assert!(!reads("def f(r):\n    x = 1\n    return x + 1"));
        assert!(!reads("def f(_r, extra=None):\n    return extra"));
    }

    #[test]
    fn any_way_of_reaching_the_record_counts_as_reading_it() {
        for source in [
            "f = lambda r: r['key']",
            "f = lambda r: r",
            "def f(r):\n    r = 1\n    return r",
            "def f(r):\n    del r",
            "def f(r):\n    return lambda: r",
            "def f(r):\n    return [r for _ in range(1)]",
            "def f(r):\n    return locals()",
            "def f(r):\n    return vars()",
            "def f(r):\n    return eval('r')",
            "def f(r):\n    import sys\n    return sys._getframe().f_locals",
            "f = lambda *args: 1",
            "f = print",
            "import functools\nf = functools.partial(lambda a, r: 1, 1)",
            "class C:\n    def m(self, r):\n        return 1\nf = C().m",
            "class C:\n    def __call__(self, r):\n        return 1\nf = C()",
        ] {
            assert!(reads(source), "{source}");
        }
    }
}
