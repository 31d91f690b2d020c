/* The hot loop of eventkit.source._protocol's parser, compiled.
 *
 * deliveries(buf, pos, run, frames, msgs_type) reads the well-formed MSG/HMSG
 * deliveries of buf from pos on, appending each to the current run (a Msgs
 * tuple: sid, subjects, replies, headers, payloads) or to a new run made with
 * msgs_type and appended to frames, exactly as the pure-Python loop does. It
 * stops at the first thing it does not take: a control line, a status message,
 * an incomplete frame, or anything not well-formed; the Python loop then deals
 * with that one frame (or waits for more bytes) and calls again. So nothing
 * here decides what an odd line means: that stays in one place, in Python.
 *
 * Returns (pos, run): where it stopped, and the run now open (or None).
 *
 * Built by setup.py as an optional extension: without a C compiler the
 * package installs without it and the Python loop does all the work.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define MAX_TOKENS 6

/* Split line[0:len] at single spaces into at most MAX_TOKENS non-empty tokens.
 * Returns the count, or -1 if a token is empty or there are too many. */
static int
split_tokens(const char *line, Py_ssize_t len, const char **starts, Py_ssize_t *lens)
{
    int n = 0;
    Py_ssize_t i = 0, begin = 0;
    for (i = 0; i <= len; i++) {
        if (i == len || line[i] == ' ') {
            if (i == begin || n == MAX_TOKENS)
                return -1;
            starts[n] = line + begin;
            lens[n] = i - begin;
            n++;
            begin = i + 1;
        }
    }
    return n;
}

/* A size written in decimal digits only (at most 15 of them); -1 if not. */
static Py_ssize_t
parse_size(const char *s, Py_ssize_t len)
{
    Py_ssize_t v = 0;
    if (len < 1 || len > 15)
        return -1;
    for (Py_ssize_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* bytes of s[0:len], reusing *last when it holds the same bytes (subjects repeat). */
static PyObject *
cached_bytes(PyObject **last, const char *s, Py_ssize_t len)
{
    if (*last != NULL && PyBytes_GET_SIZE(*last) == len
            && memcmp(PyBytes_AS_STRING(*last), s, (size_t)len) == 0) {
        Py_INCREF(*last);
        return *last;
    }
    PyObject *b = PyBytes_FromStringAndSize(s, len);
    if (b == NULL)
        return NULL;
    Py_XDECREF(*last);
    Py_INCREF(b);
    *last = b;
    return b;
}

static int
append_new(PyObject *list, PyObject *item)
{
    if (item == NULL)
        return -1;
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

static PyObject *
deliveries(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "deliveries(buf, pos, run, frames, msgs_type)");
        return NULL;
    }
    PyObject *bufobj = args[0], *run = args[2], *frames = args[3], *msgs_type = args[4];
    if (!PyBytes_Check(bufobj) || !PyList_Check(frames)) {
        PyErr_SetString(PyExc_TypeError, "buf must be bytes and frames a list");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    const char *buf = PyBytes_AS_STRING(bufobj);
    const Py_ssize_t end = PyBytes_GET_SIZE(bufobj);
    PyObject *last_subject = NULL;
    PyObject *empty = PyBytes_FromStringAndSize(NULL, 0);
    if (empty == NULL)
        return NULL;
    Py_INCREF(run);  /* owned from here on */
    const char *starts[MAX_TOKENS];
    Py_ssize_t lens[MAX_TOKENS];

    while (pos < end) {
        const char *line = buf + pos;
        const char *cr = NULL;
        /* the line ends at the first CRLF */
        const char *p = line;
        Py_ssize_t left = end - pos;
        while (left > 1) {
            cr = memchr(p, '\r', (size_t)(left - 1));
            if (cr == NULL || cr[1] == '\n')
                break;
            left -= (cr + 1) - p;
            p = cr + 1;
            cr = NULL;
        }
        if (cr == NULL || cr[1] != '\n')
            break;  /* no whole line yet */
        Py_ssize_t eol = cr - buf;
        int headed;
        Py_ssize_t head;
        if (eol - pos >= 4 && memcmp(line, "MSG ", 4) == 0) {
            headed = 0;
            head = 4;
        } else if (eol - pos >= 5 && memcmp(line, "HMSG ", 5) == 0) {
            headed = 1;
            head = 5;
        } else {
            break;  /* a control line: the Python loop's */
        }
        int n = split_tokens(line + head, eol - pos - head, starts, lens);
        Py_ssize_t hsize = 0, size;
        int with_reply;
        if (!headed) {
            if (n != 3 && n != 4)
                break;
            with_reply = n == 4;
            size = parse_size(starts[n - 1], lens[n - 1]);
        } else {
            if (n != 4 && n != 5)
                break;
            with_reply = n == 5;
            hsize = parse_size(starts[n - 2], lens[n - 2]);
            size = parse_size(starts[n - 1], lens[n - 1]);
            if (hsize < 0 || hsize > size)
                break;
        }
        if (size < 0)
            break;
        Py_ssize_t start = eol + 2;
        if (start + size + 2 > end)
            break;  /* not all here yet */
        if (headed && size == hsize && hsize > 8 && buf[start + 8] == ' ')
            break;  /* a status message: the Python loop's */
        /* the run: the open one if the sid is the same, else a new one */
        PyObject *sid_of_run = run == Py_None ? NULL : PyTuple_GET_ITEM(run, 0);
        if (sid_of_run == NULL || PyBytes_GET_SIZE(sid_of_run) != lens[1]
                || memcmp(PyBytes_AS_STRING(sid_of_run), starts[1], (size_t)lens[1]) != 0) {
            PyObject *sid = PyBytes_FromStringAndSize(starts[1], lens[1]);
            PyObject *fresh = sid == NULL ? NULL : PyObject_CallFunction(
                msgs_type, "N[][]{}[]", sid);
            if (fresh == NULL || PyList_Append(frames, fresh) < 0) {
                Py_XDECREF(fresh);
                goto error;
            }
            Py_DECREF(run);
            run = fresh;
        }
        PyObject *subjects = PyTuple_GET_ITEM(run, 1), *replies = PyTuple_GET_ITEM(run, 2);
        PyObject *headers = PyTuple_GET_ITEM(run, 3), *payloads = PyTuple_GET_ITEM(run, 4);
        if (headed) {
            PyObject *key = PyLong_FromSsize_t(PyList_GET_SIZE(payloads));
            PyObject *block = PyBytes_FromStringAndSize(buf + start, hsize);
            int rc = key == NULL || block == NULL ? -1 : PyDict_SetItem(headers, key, block);
            Py_XDECREF(key);
            Py_XDECREF(block);
            if (rc < 0)
                goto error;
        }
        if (append_new(subjects, cached_bytes(&last_subject, starts[0], lens[0])) < 0)
            goto error;
        if (with_reply) {
            if (append_new(replies, PyBytes_FromStringAndSize(starts[2], lens[2])) < 0)
                goto error;
        } else if (PyList_Append(replies, empty) < 0) {
            goto error;
        }
        if (append_new(payloads, PyBytes_FromStringAndSize(buf + start + hsize,
                                                           size - hsize)) < 0)
            goto error;
        pos = start + size + 2;
    }
    Py_XDECREF(last_subject);
    Py_DECREF(empty);
    return Py_BuildValue("(nN)", pos, run);

error:
    Py_XDECREF(last_subject);
    Py_DECREF(empty);
    Py_DECREF(run);
    return NULL;
}

static PyMethodDef methods[] = {
    {"deliveries", (PyCFunction)(void (*)(void))deliveries, METH_FASTCALL,
     "deliveries(buf, pos, run, frames, msgs_type) -> (pos, run): the well-formed MSG/HMSG "
     "deliveries from pos on, appended to runs as the Python parser does."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_protocol_c",
    "The compiled hot loop of eventkit.source._protocol (optional).", -1, methods,
};

PyMODINIT_FUNC
PyInit__protocol_c(void)
{
    return PyModule_Create(&module);
}
