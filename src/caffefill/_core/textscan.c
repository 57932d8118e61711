/*
 * textscan.c - caffefill._textscan, the tokenizer of the prototxt reader in C.
 *
 * A Scanner makes the tokens of protobuf's text format exactly as the pure
 * Python scanner does (caffefill/net/reader/lexer.py, _scan_py: the regular
 * expressions _SCAN and _SCAN_FIELD and _slow_token), one at a time as the
 * parser asks: next() gives one token, send(flag) one token where, when
 * flag is true, a field may start (a whole "name: value" or "name {" is then
 * one token and its value or opener goes to held[0]).  A token is a tuple
 * (kind, text, offset, bytes); the kinds are the Python module's own string
 * objects (the parser compares them with "is").  Only the tokens that are
 * surely well-formed are made here; at anything else (a string with escapes,
 * a number protobuf refuses, a stray or non-ASCII character) the Python
 * function slow(offset) makes the token or raises the error, so every error
 * and its position stay the Python reader's.  After the end of the text the
 * end token comes for ever.  Offsets count characters (code points).
 *
 * Kept apart from caffefill._core: the reader must not import numpy.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* The kinds, in the order the constructor takes them. */
enum { K_IDENT, K_INT, K_FLOAT, K_STRING, K_SYMBOL, K_EOF, K_FIELD_VALUE, K_FIELD_BLOCK,
       K_FIELD_COLON_BLOCK, K_COUNT };

typedef struct {
    PyObject_HEAD
    PyObject *text;       /* str */
    int ukind;            /* PyUnicode_KIND of text */
    const void *data;
    Py_ssize_t size;
    Py_ssize_t pos;       /* where the next token's leading space starts */
    PyObject *held;       /* list (or None): a field's value or opener */
    PyObject *slow;       /* slow(offset) -> token */
    PyObject *kinds[K_COUNT];
    PyObject *end;        /* the end token, once made */
} Scanner;

#define CH(s, i) PyUnicode_READ((s)->ukind, (s)->data, (i))

static int is_digit(Py_UCS4 c) { return c >= '0' && c <= '9'; }
static int is_alpha(Py_UCS4 c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_ident_start(Py_UCS4 c) { return is_alpha(c) || c == '_'; }
static int is_ident(Py_UCS4 c) { return is_ident_start(c) || is_digit(c); }
static int is_hex(Py_UCS4 c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The symbols of the Python scanner's "symbol" group ("." apart). */
static int is_symbol(Py_UCS4 c)
{
    return c < 128 && c != 0 && strchr("!$%&()*+,-/:;<=>?@[\\]^`{|}~", (int)c) != NULL;
}

/* Past whitespace and "#" comments (a comment runs to the end of its line). */
static Py_ssize_t skip(const Scanner *s, Py_ssize_t i)
{
    while (i < s->size) {
        Py_UCS4 c = CH(s, i);
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f') {
            i++;
        } else if (c == '#') {
            while (i < s->size && CH(s, i) != '\n')
                i++;
        } else {
            break;
        }
    }
    return i;
}

/* A number must not run on into a letter, digit, "_" or "." (protobuf refuses it). */
static int runs_on(const Scanner *s, Py_ssize_t i)
{
    return i < s->size && (is_ident(CH(s, i)) || CH(s, i) == '.');
}

static Py_ssize_t digits(const Scanner *s, Py_ssize_t i)
{
    while (i < s->size && is_digit(CH(s, i)))
        i++;
    return i;
}

/* Past an exponent [eE][+-]?[0-9]+ at i, or i when there is none. */
static Py_ssize_t exponent(const Scanner *s, Py_ssize_t i)
{
    if (i < s->size && (CH(s, i) == 'e' || CH(s, i) == 'E')) {
        Py_ssize_t k = i + 1;
        if (k < s->size && (CH(s, k) == '+' || CH(s, k) == '-'))
            k++;
        if (k < s->size && is_digit(CH(s, k)))
            return digits(s, k);
    }
    return i;
}

static Py_ssize_t suffix_f(const Scanner *s, Py_ssize_t i)
{
    return i < s->size && (CH(s, i) == 'f' || CH(s, i) == 'F') ? i + 1 : i;
}

/* A well-formed value token at i (identifier, integer, float, string): its kind
 * and end, or -1.  The alternatives and their order are the Python scanner's;
 * each alternative's longest match is the only one that can pass its
 * "runs on" check (any shorter one stops before a digit, letter or "."). */
static int value_at(const Scanner *s, Py_ssize_t i, Py_ssize_t *end)
{
    if (i >= s->size)
        return -1;
    Py_UCS4 c = CH(s, i);
    if (is_ident_start(c)) {
        Py_ssize_t e = i + 1;
        while (e < s->size && is_ident(CH(s, e)))
            e++;
        *end = e;
        return K_IDENT;
    }
    if (is_digit(c)) {
        Py_ssize_t e;
        /* integers: 0[xX][0-9A-Fa-f]+ | 0[0-7]* | [1-9][0-9]* */
        if (c == '0' && i + 2 < s->size && (CH(s, i + 1) == 'x' || CH(s, i + 1) == 'X') &&
            is_hex(CH(s, i + 2))) {
            e = i + 2;
            while (e < s->size && is_hex(CH(s, e)))
                e++;
            if (!runs_on(s, e)) {
                *end = e;
                return K_INT;
            }
        }
        if (c == '0') {
            e = i + 1;
            while (e < s->size && CH(s, e) >= '0' && CH(s, e) <= '7')
                e++;
        } else {
            e = digits(s, i + 1);
        }
        if (!runs_on(s, e)) {
            *end = e;
            return K_INT;
        }
        /* floats: (0|[1-9][0-9]*) then "." [0-9]* exponent? [fF]?, or an
         * exponent [fF]?, or [fF] */
        Py_ssize_t whole = c == '0' ? i + 1 : digits(s, i + 1);
        if (whole < s->size && CH(s, whole) == '.') {
            e = suffix_f(s, exponent(s, digits(s, whole + 1)));
        } else {
            Py_ssize_t x = exponent(s, whole);
            if (x == whole && !(whole < s->size && (CH(s, whole) == 'f' || CH(s, whole) == 'F')))
                return -1;
            e = suffix_f(s, x);
        }
        if (runs_on(s, e))
            return -1;
        *end = e;
        return K_FLOAT;
    }
    if (c == '.') {
        if (i + 1 < s->size && is_digit(CH(s, i + 1))) {
            Py_ssize_t e = suffix_f(s, exponent(s, digits(s, i + 1)));
            if (runs_on(s, e))
                return -1;
            *end = e;
            return K_FLOAT;
        }
        return -1;
    }
    if (c == '"' || c == '\'') {
        Py_ssize_t e = i + 1;
        while (e < s->size) {
            Py_UCS4 d = CH(s, e);
            if (d == c || d == '\\' || d == '\n')
                break;
            e++;
        }
        if (e < s->size && CH(s, e) == c) {
            *end = e + 1;
            return K_STRING;
        }
        return -1;
    }
    return -1;
}

/* (kind, text[start:end], start, data): data is the UTF-8 of a string's inside. */
static PyObject *token(Scanner *s, int kind, Py_ssize_t start, Py_ssize_t end)
{
    PyObject *text = PyUnicode_Substring(s->text, start, end);
    if (text == NULL)
        return NULL;
    PyObject *data;
    if (kind == K_STRING) {
        PyObject *inside = PyUnicode_Substring(s->text, start + 1, end - 1);
        if (inside == NULL) {
            Py_DECREF(text);
            return NULL;
        }
        data = PyUnicode_AsUTF8String(inside);
        Py_DECREF(inside);
    } else {
        data = PyBytes_FromStringAndSize(NULL, 0);
    }
    PyObject *offset = data == NULL ? NULL : PyLong_FromSsize_t(start);
    if (offset == NULL) {
        Py_DECREF(text);
        Py_XDECREF(data);
        return NULL;
    }
    PyObject *result = PyTuple_New(4);
    if (result == NULL) {
        Py_DECREF(text);
        Py_DECREF(data);
        Py_DECREF(offset);
        return NULL;
    }
    Py_INCREF(s->kinds[kind]);
    PyTuple_SET_ITEM(result, 0, s->kinds[kind]);
    PyTuple_SET_ITEM(result, 1, text);
    PyTuple_SET_ITEM(result, 2, offset);
    PyTuple_SET_ITEM(result, 3, data);
    return result;
}

/* Put `value` (a new reference, or NULL on error) in held[0]. */
static int hold(Scanner *s, PyObject *value)
{
    if (value == NULL)
        return -1;
    return PyList_SetItem(s->held, 0, value); /* steals value */
}

/* The token at i (not space), read by the Python slow path. */
static PyObject *slow_token(Scanner *s, Py_ssize_t i)
{
    PyObject *result = PyObject_CallFunction(s->slow, "n", i);
    if (result == NULL)
        return NULL;
    if (!PyTuple_Check(result) || PyTuple_GET_SIZE(result) < 3 ||
        !PyUnicode_Check(PyTuple_GET_ITEM(result, 1))) {
        Py_DECREF(result);
        PyErr_SetString(PyExc_TypeError, "slow() must return a token tuple");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(PyTuple_GET_ITEM(result, 2));
    if (start == -1 && PyErr_Occurred()) {
        Py_DECREF(result);
        return NULL;
    }
    s->pos = start + PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(result, 1));
    return result;
}

static PyObject *scan(Scanner *s, int field)
{
    if (s->end != NULL) {
        Py_INCREF(s->end);
        return s->end;
    }
    Py_ssize_t i = skip(s, s->pos), end;
    if (i >= s->size) {
        s->pos = s->size;
        s->end = token(s, K_EOF, s->size, s->size);
        Py_XINCREF(s->end);
        return s->end;
    }
    int kind;
    if (field && PyList_Check(s->held) && PyList_GET_SIZE(s->held) > 0 &&
        is_ident_start(CH(s, i))) {
        Py_ssize_t name_end = i + 1;
        while (name_end < s->size && is_ident(CH(s, name_end)))
            name_end++;
        Py_ssize_t j = skip(s, name_end);
        int colon = j < s->size && CH(s, j) == ':';
        if (colon) {
            j = skip(s, j + 1);
            kind = value_at(s, j, &end);
            if (kind >= 0) {
                if (hold(s, token(s, kind, j, end)) < 0)
                    return NULL;
                s->pos = end;
                return token(s, K_FIELD_VALUE, i, name_end);
            }
        }
        if (j < s->size && (CH(s, j) == '{' || CH(s, j) == '<')) {
            if (hold(s, token(s, K_SYMBOL, j, j + 1)) < 0)
                return NULL;
            s->pos = j + 1;
            return token(s, colon ? K_FIELD_COLON_BLOCK : K_FIELD_BLOCK, i, name_end);
        }
    }
    kind = value_at(s, i, &end);
    if (kind >= 0) {
        s->pos = end;
        return token(s, kind, i, end);
    }
    Py_UCS4 c = CH(s, i);
    if (is_symbol(c) || (c == '.' && !(i + 1 < s->size && is_digit(CH(s, i + 1))))) {
        s->pos = i + 1;
        return token(s, K_SYMBOL, i, i + 1);
    }
    return slow_token(s, i);
}

static PyObject *Scanner_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"text", "held", "slow", "kinds", NULL};
    PyObject *text, *held, *slow, *kinds;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "UOOO!", kwlist, &text, &held, &slow,
                                     &PyTuple_Type, &kinds))
        return NULL;
    if (PyTuple_GET_SIZE(kinds) != K_COUNT) {
        PyErr_Format(PyExc_ValueError, "kinds must hold %d strings", K_COUNT);
        return NULL;
    }
    if (held != Py_None && !PyList_Check(held)) {
        PyErr_SetString(PyExc_TypeError, "held must be a list or None");
        return NULL;
    }
    Scanner *s = (Scanner *)type->tp_alloc(type, 0);
    if (s == NULL)
        return NULL;
    Py_INCREF(text);
    s->text = text;
    s->ukind = PyUnicode_KIND(text);
    s->data = PyUnicode_DATA(text);
    s->size = PyUnicode_GET_LENGTH(text);
    s->pos = 0;
    Py_INCREF(held);
    s->held = held;
    Py_INCREF(slow);
    s->slow = slow;
    for (int k = 0; k < K_COUNT; k++) {
        s->kinds[k] = PyTuple_GET_ITEM(kinds, k);
        Py_INCREF(s->kinds[k]);
    }
    s->end = NULL;
    return (PyObject *)s;
}

static void Scanner_dealloc(Scanner *s)
{
    Py_XDECREF(s->text);
    Py_XDECREF(s->held);
    Py_XDECREF(s->slow);
    for (int k = 0; k < K_COUNT; k++)
        Py_XDECREF(s->kinds[k]);
    Py_XDECREF(s->end);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *Scanner_next(Scanner *s) { return scan(s, 0); }

static PyObject *Scanner_send(Scanner *s, PyObject *flag)
{
    int field = PyObject_IsTrue(flag);
    if (field < 0)
        return NULL;
    return scan(s, field);
}

static PyMethodDef Scanner_methods[] = {
    {"send", (PyCFunction)Scanner_send, METH_O,
     "send(flag) -> the next token; a whole field where flag is true and one starts"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "caffefill._textscan.Scanner",
    .tp_doc = "Scanner(text, held, slow, kinds): the tokens of a prototxt's text",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Scanner_new,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Scanner_next,
    .tp_methods = Scanner_methods,
};

static struct PyModuleDef textscan_module = {
    PyModuleDef_HEAD_INIT, "caffefill._textscan",
    "The prototxt reader's tokenizer (C).", -1, NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__textscan(void)
{
    if (PyType_Ready(&ScannerType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&textscan_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&ScannerType);
    if (PyModule_AddObject(m, "Scanner", (PyObject *)&ScannerType) < 0) {
        Py_DECREF(&ScannerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
