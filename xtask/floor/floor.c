/*
 * The floor of benchmarks.md B1: the least a Redis module can do to run one
 * Python function per SET. It subscribes to string keyspace events, and on a
 * `set` of a `key:` key calls `lambda key: execute('INCR', 'counter')` with the
 * key's name; `execute` is a METH_FASTCALL function over RedisModule_Call (format
 * "v!", replicated, as gears-rs calls commands). No records, no executions, no
 * listing, no stats: what is left is the Python call and the command.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "redismodule.h"

#define MAX_ARGS 16

static PyObject *callback;
static RedisModuleCtx *current;

static PyObject *floor_execute(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    RedisModuleString *argv[MAX_ARGS];
    if (nargs < 1 || nargs > MAX_ARGS || current == NULL) {
        PyErr_SetString(PyExc_ValueError, "execute: 1 to 16 arguments, inside an event");
        return NULL;
    }
    const char *command = PyUnicode_AsUTF8(args[0]);
    if (command == NULL) {
        return NULL;
    }
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 1; i < nargs; i++) {
        Py_ssize_t len;
        const char *text = PyUnicode_AsUTF8AndSize(args[i], &len);
        if (text == NULL) {
            for (Py_ssize_t j = 0; j < count; j++) {
                RedisModule_FreeString(NULL, argv[j]);
            }
            return NULL;
        }
        argv[count++] = RedisModule_CreateString(NULL, text, (size_t)len);
    }
    RedisModuleCallReply *reply = RedisModule_Call(current, command, "v!", argv, (size_t)count);
    for (Py_ssize_t j = 0; j < count; j++) {
        RedisModule_FreeString(NULL, argv[j]);
    }
    if (reply == NULL) {
        Py_RETURN_NONE;
    }
    PyObject *result;
    if (RedisModule_CallReplyType(reply) == REDISMODULE_REPLY_INTEGER) {
        result = PyLong_FromLongLong(RedisModule_CallReplyInteger(reply));
    } else {
        size_t len = 0;
        const char *text = RedisModule_CallReplyStringPtr(reply, &len);
        result = text ? PyUnicode_FromStringAndSize(text, (Py_ssize_t)len) : Py_NewRef(Py_None);
    }
    RedisModule_FreeCallReply(reply);
    return result;
}

static PyMethodDef methods[] = {
    {"execute", (PyCFunction)(void (*)(void))floor_execute, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef definition = {PyModuleDef_HEAD_INIT, "floor", NULL, -1, methods};

static int on_event(RedisModuleCtx *ctx, int type, const char *event, RedisModuleString *key) {
    (void)type;
    if (strcmp(event, "set") != 0) {
        return REDISMODULE_OK;
    }
    size_t len;
    const char *name = RedisModule_StringPtrLen(key, &len);
    if (len < 4 || memcmp(name, "key:", 4) != 0) {
        return REDISMODULE_OK;
    }
    PyGILState_STATE gil = PyGILState_Ensure();
    RedisModuleCtx *previous = current;
    current = ctx;
    PyObject *argument = PyUnicode_FromStringAndSize(name, (Py_ssize_t)len);
    PyObject *result = argument ? PyObject_CallOneArg(callback, argument) : NULL;
    if (result == NULL) {
        PyErr_Clear();
    }
    Py_XDECREF(result);
    Py_XDECREF(argument);
    current = previous;
    PyGILState_Release(gil);
    return REDISMODULE_OK;
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    if (RedisModule_Init(ctx, "floor", 1, REDISMODULE_APIVER_1) == REDISMODULE_ERR) {
        return REDISMODULE_ERR;
    }
    Py_InitializeEx(0);
    PyObject *module = PyModule_Create(&definition);
    PyObject *globals = PyDict_New();
    if (module == NULL || globals == NULL) {
        return REDISMODULE_ERR;
    }
    PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
    PyObject *execute = PyObject_GetAttrString(module, "execute");
    PyDict_SetItemString(globals, "execute", execute);
    PyObject *ran = PyRun_String("f = lambda key: execute('INCR', 'counter')", Py_file_input,
                                 globals, globals);
    if (ran == NULL) {
        PyErr_Print();
        return REDISMODULE_ERR;
    }
    Py_DECREF(ran);
    callback = PyDict_GetItemString(globals, "f");
    Py_XINCREF(callback);
    PyEval_SaveThread();
    if (callback == NULL) {
        return REDISMODULE_ERR;
    }
    return RedisModule_SubscribeToKeyspaceEvents(ctx, REDISMODULE_NOTIFY_STRING, on_event);
}
