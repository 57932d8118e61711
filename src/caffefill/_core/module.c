/*
 * module.c - caffefill._core, the thin Python layer over the C units.
 *
 * Stream wraps one cf_mt19937 (Caffe's single random stream); its methods
 * run the fill kernels on writable, aligned, C-contiguous float32 NumPy
 * arrays, checking every buffer before a single value is written.  Every
 * kernel (the module's bilinear too) releases the GIL while it runs, so a
 * fill can run beside other Python threads.  A Stream holds a lock of its
 * own for each call (as numpy's bit generators do): two threads that share
 * one never corrupt its state, each call's draws are consecutive, and the
 * order of the calls is the threads' own.  crc32() is the zip CRC-32 the
 * .npz writer takes of each member (crc32.c).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <string.h>

#include "crc32.h"
#include "fill.h"
#include "glibc_vec.h"

typedef struct {
    PyObject_HEAD
    cf_mt19937 mt;
    PyThread_type_lock lock; /* held, without the GIL, while mt is read or moved */
} StreamObject;

/* Run `stmt` on the stream with the GIL released and the stream's lock held. */
#define WITH_STREAM(self, stmt)                                \
    do {                                                       \
        Py_BEGIN_ALLOW_THREADS                                 \
        PyThread_acquire_lock((self)->lock, WAIT_LOCK);        \
        stmt;                                                  \
        PyThread_release_lock((self)->lock);                   \
        Py_END_ALLOW_THREADS                                   \
    } while (0)

/* Borrow a float32 output buffer from `obj`, or set an exception. */
static int as_f32_out(PyObject *obj, float **data, size_t *n)
{
    if (!PyArray_Check(obj)) {
        PyErr_SetString(PyExc_TypeError, "expected a numpy.ndarray");
        return -1;
    }
    PyArrayObject *arr = (PyArrayObject *)obj;
    if (PyArray_TYPE(arr) != NPY_FLOAT32 || !PyArray_IS_C_CONTIGUOUS(arr) ||
        !PyArray_ISWRITEABLE(arr) || !PyArray_ISALIGNED(arr) || PyArray_ISBYTESWAPPED(arr)) {
        PyErr_SetString(PyExc_ValueError,
                        "expected a writable, aligned, C-contiguous native float32 array");
        return -1;
    }
    *data = (float *)PyArray_DATA(arr);
    *n = (size_t)PyArray_SIZE(arr);
    return 0;
}

static PyObject *Stream_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"seed", NULL};
    unsigned long long seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "K", kwlist, &seed))
        return NULL;
    if (seed > 0xffffffffULL) {
        PyErr_SetString(PyExc_OverflowError, "seed must fit in 32 bits");
        return NULL;
    }
    StreamObject *self = (StreamObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->lock = PyThread_allocate_lock();
    if (self->lock == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    cf_mt_seed(&self->mt, (uint32_t)seed);
    return (PyObject *)self;
}

static void Stream_dealloc(StreamObject *self)
{
    if (self->lock != NULL)
        PyThread_free_lock(self->lock);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Stream_uint32(StreamObject *self, PyObject *arg)
{
    Py_ssize_t n = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "count must be >= 0");
        return NULL;
    }
    npy_intp dims[1] = {(npy_intp)n};
    PyObject *out = PyArray_SimpleNew(1, dims, NPY_UINT32);
    if (out == NULL)
        return NULL;
    uint32_t *data = (uint32_t *)PyArray_DATA((PyArrayObject *)out);
    WITH_STREAM(self, cf_mt_fill_uint32(&self->mt, data, (size_t)n));
    return out;
}

static PyObject *Stream_discard(StreamObject *self, PyObject *arg)
{
    unsigned long long n = PyLong_AsUnsignedLongLong(arg);
    if (PyErr_Occurred())
        return NULL;
    WITH_STREAM(self, cf_mt_discard(&self->mt, (uint64_t)n));
    Py_RETURN_NONE;
}

static PyObject *Stream_uniform(StreamObject *self, PyObject *args)
{
    PyObject *obj;
    float lo, hi;
    float *data;
    size_t n;
    if (!PyArg_ParseTuple(args, "Off", &obj, &lo, &hi) || as_f32_out(obj, &data, &n) < 0)
        return NULL;
    WITH_STREAM(self, cf_fill_uniform(&self->mt, data, n, lo, hi));
    Py_RETURN_NONE;
}

static PyObject *Stream_gaussian(StreamObject *self, PyObject *args)
{
    PyObject *obj;
    float mean, sigma;
    int kind;
    float *data;
    size_t n;
    if (!PyArg_ParseTuple(args, "Offi", &obj, &mean, &sigma, &kind) ||
        as_f32_out(obj, &data, &n) < 0)
        return NULL;
    if (kind < CF_NORMAL_ZIGGURAT_164 || kind > CF_NORMAL_BOX_MULLER) {
        PyErr_SetString(PyExc_ValueError, "unknown normal algorithm");
        return NULL;
    }
    WITH_STREAM(self, cf_fill_gaussian(&self->mt, data, n, mean, sigma, (cf_normal_kind)kind));
    Py_RETURN_NONE;
}

static PyObject *Stream_bernoulli_mask(StreamObject *self, PyObject *args)
{
    PyObject *obj;
    float p;
    float *data;
    size_t n;
    if (!PyArg_ParseTuple(args, "Of", &obj, &p) || as_f32_out(obj, &data, &n) < 0)
        return NULL;
    WITH_STREAM(self, cf_mask_bernoulli(&self->mt, data, n, p));
    Py_RETURN_NONE;
}

static PyObject *Stream_unitball(StreamObject *self, PyObject *args)
{
    PyObject *obj;
    Py_ssize_t rows;
    float *data;
    size_t n;
    if (!PyArg_ParseTuple(args, "On", &obj, &rows) || as_f32_out(obj, &data, &n) < 0)
        return NULL;
    if (rows <= 0 || n % (size_t)rows != 0) {
        PyErr_SetString(PyExc_ValueError, "rows must divide the array size");
        return NULL;
    }
    WITH_STREAM(self, cf_fill_unitball(&self->mt, data, n, (size_t)rows));
    Py_RETURN_NONE;
}

static PyObject *Stream_getstate(StreamObject *self, PyObject *Py_UNUSED(ignored))
{
    cf_mt19937 copy;
    WITH_STREAM(self, copy = self->mt);
    return Py_BuildValue("(y#i)", (const char *)copy.key, (Py_ssize_t)sizeof(copy.key),
                         copy.pos);
}

static PyObject *Stream_setstate(StreamObject *self, PyObject *args)
{
    const char *buf;
    Py_ssize_t len;
    int pos;
    if (!PyArg_ParseTuple(args, "(y#i)", &buf, &len, &pos))
        return NULL;
    if (len != (Py_ssize_t)sizeof(self->mt.key) || pos < 0 || pos > CF_MT_N) {
        PyErr_SetString(PyExc_ValueError, "not an mt19937 state");
        return NULL;
    }
    WITH_STREAM(self, memcpy(self->mt.key, buf, sizeof(self->mt.key)); self->mt.pos = pos);
    Py_RETURN_NONE;
}

static PyMethodDef Stream_methods[] = {
    {"uint32", (PyCFunction)Stream_uint32, METH_O,
     "uint32(n) -> the next n raw 32-bit outputs as a uint32 array"},
    {"discard", (PyCFunction)Stream_discard, METH_O, "discard(n): skip n outputs"},
    {"uniform", (PyCFunction)Stream_uniform, METH_VARARGS,
     "uniform(out, lo, hi): caffe_rng_uniform into out"},
    {"gaussian", (PyCFunction)Stream_gaussian, METH_VARARGS,
     "gaussian(out, mean, sigma, kind): caffe_rng_gaussian into out"},
    {"bernoulli_mask", (PyCFunction)Stream_bernoulli_mask, METH_VARARGS,
     "bernoulli_mask(data, p): data[i] *= caffe_rng_bernoulli(p)"},
    {"unitball", (PyCFunction)Stream_unitball, METH_VARARGS,
     "unitball(out, rows): positive_unitball's uniform draw, each row divided by its sum"},
    {"getstate", (PyCFunction)Stream_getstate, METH_NOARGS, "(state words, position)"},
    {"setstate", (PyCFunction)Stream_setstate, METH_VARARGS, "restore getstate()'s value"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject StreamType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "caffefill._core.Stream",
    .tp_basicsize = sizeof(StreamObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Stream(seed): Caffe's mt19937 random stream",
    .tp_new = Stream_new,
    .tp_dealloc = (destructor)Stream_dealloc,
    .tp_methods = Stream_methods,
};

static PyObject *core_bilinear(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *obj;
    int k, kind;
    float *data;
    size_t n;
    if (!PyArg_ParseTuple(args, "Oii", &obj, &k, &kind) || as_f32_out(obj, &data, &n) < 0)
        return NULL;
    if (k <= 0 || n % ((size_t)k * (size_t)k) != 0 ||
        (kind != CF_BILINEAR_CAFFE10 && kind != CF_BILINEAR_MASTER)) {
        PyErr_SetString(PyExc_ValueError, "bad bilinear kernel size or kind");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    cf_fill_bilinear(data, n, k, (cf_bilinear_kind)kind);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* crc32(data, value=0): zlib.crc32's value, faster where the CPU has
 * carry-less multiplication; the GIL is released for large buffers. */
static PyObject *core_crc32(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer view;
    unsigned long value = 0;
    if (!PyArg_ParseTuple(args, "y*|k", &view, &value))
        return NULL;
    uint32_t crc = (uint32_t)value;
    const unsigned char *data = (const unsigned char *)view.buf;
    size_t n = (size_t)view.len;
    if (n >= 65536) {
        Py_BEGIN_ALLOW_THREADS
        crc = cf_crc32(crc, data, n);
        Py_END_ALLOW_THREADS
    } else {
        crc = cf_crc32(crc, data, n);
    }
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong(crc);
}

/* simd_level(cap=-1): cf_simd_level (mt19937.h).  For tests and benchmarks. */
static PyObject *core_simd_level(PyObject *Py_UNUSED(module), PyObject *args)
{
    int cap = -1;
    if (!PyArg_ParseTuple(args, "|i", &cap))
        return NULL;
    return PyLong_FromLong(cf_simd_level(cap < 0 ? -1 : cap));
}

/* box_muller(bulk=-1, threads=-1): cf_box_muller_bulk and
 * cf_box_muller_threads (boxmuller.h), -1 only asks; returns (bulk,
 * threads).  For tests and benchmarks. */
static PyObject *core_box_muller(PyObject *Py_UNUSED(module), PyObject *args)
{
    int bulk = -1, threads = -1;
    if (!PyArg_ParseTuple(args, "|ii", &bulk, &threads))
        return NULL;
    bulk = cf_box_muller_bulk(bulk < 0 ? -1 : bulk > 2 ? 1 : bulk);
    threads = cf_box_muller_threads(threads < 0 ? -1 : threads);
    return Py_BuildValue("(ii)", bulk, threads);
}

/* box_muller_vector(enable=-1): cf_glibc_vec_use (glibc_vec.h); 0 makes
 * the Box-Muller bulk path (and glibc_vec_logf, glibc_vec_sincosf) call the
 * C library's logf and sincosf, 1 allows the four-lane code again, -1 only
 * asks.  For tests and benchmarks. */
static PyObject *core_box_muller_vector(PyObject *Py_UNUSED(module), PyObject *args)
{
    int enable = -1;
    if (!PyArg_ParseTuple(args, "|i", &enable))
        return NULL;
    return PyBool_FromLong(cf_glibc_vec_use(enable < 0 ? -1 : enable != 0));
}

/* glibc_vec_logf(x, out) and glibc_vec_sincosf(x, sin, cos): glibc_vec.c's
 * functions on float32 arrays of one size (their inputs' domain is the
 * caller's to keep); return cf_glibc_vec_use(-1), i.e. whether the vector
 * code ran rather than the C library.  For tests. */
static PyObject *core_glibc_vec_logf(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *x_obj, *out_obj;
    float *x, *out;
    size_t n, n_out;
    if (!PyArg_ParseTuple(args, "OO", &x_obj, &out_obj) || as_f32_out(x_obj, &x, &n) < 0 ||
        as_f32_out(out_obj, &out, &n_out) < 0)
        return NULL;
    if (n_out != n) {
        PyErr_SetString(PyExc_ValueError, "x and out differ in size");
        return NULL;
    }
    cf_glibc_vec_logf(x, out, n);
    return PyBool_FromLong(cf_glibc_vec_use(-1));
}

static PyObject *core_glibc_vec_sincosf(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *x_obj, *s_obj, *c_obj;
    float *x, *s, *c;
    size_t n, n_s, n_c;
    if (!PyArg_ParseTuple(args, "OOO", &x_obj, &s_obj, &c_obj) || as_f32_out(x_obj, &x, &n) < 0 ||
        as_f32_out(s_obj, &s, &n_s) < 0 || as_f32_out(c_obj, &c, &n_c) < 0)
        return NULL;
    if (n_s != n || n_c != n) {
        PyErr_SetString(PyExc_ValueError, "x, sin and cos differ in size");
        return NULL;
    }
    cf_glibc_vec_sincosf(x, s, c, n);
    return PyBool_FromLong(cf_glibc_vec_use(-1));
}

static PyMethodDef core_methods[] = {
    {"crc32", core_crc32, METH_VARARGS,
     "crc32(data, value=0): the zip CRC-32 of a contiguous buffer, as zlib.crc32"},
    {"bilinear", core_bilinear, METH_VARARGS, "bilinear(out, k, kind): bilinear kernel"},
    {"simd_level", core_simd_level, METH_VARARGS,
     "simd_level(cap=-1) -> the vector code the C core uses: 0 none (the portable code), 1 "
     "AVX2, 2 AVX-512 as well; cap caps it (the CPU's own is the most), -1 only asks"},
    {"box_muller", core_box_muller, METH_VARARGS,
     "box_muller(bulk=-1, threads=-1) -> (bulk, threads) of the Box-Muller normal: bulk 0 "
     "computes one pair at a time (the reference), 1 the bulk path, 2 the bulk path with a "
     "threaded fill's pieces dealt in turns (for tests); threads caps the "
     "threads of a large fill, 0 = the cores the process may use; -1 only asks"},
    {"box_muller_vector", core_box_muller_vector, METH_VARARGS,
     "box_muller_vector(enable=-1) -> whether the Box-Muller bulk path computes logf and "
     "sincosf four at a time (where that gives the C library's bits); 0 makes it call the "
     "C library, 1 allows the vector code again, -1 only asks"},
    {"glibc_vec_logf", core_glibc_vec_logf, METH_VARARGS,
     "glibc_vec_logf(x, out) -> bool: out = logf(x) as the Box-Muller bulk path computes it "
     "(x positive normal float32); True when the vector code ran, False the C library"},
    {"glibc_vec_sincosf", core_glibc_vec_sincosf, METH_VARARGS,
     "glibc_vec_sincosf(x, sin, cos) -> bool: sincosf of x (0 <= x < 120) as the Box-Muller "
     "bulk path computes it; True when the vector code ran, False the C library"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "caffefill._core",
    "Exact Caffe random stream and fill kernels (C).", -1, core_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__core(void)
{
    import_array();
    if (PyType_Ready(&StreamType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&StreamType);
    if (PyModule_AddObject(m, "Stream", (PyObject *)&StreamType) < 0) {
        Py_DECREF(&StreamType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "NORMAL_ZIGGURAT_164", CF_NORMAL_ZIGGURAT_164);
    PyModule_AddIntConstant(m, "NORMAL_ZIGGURAT_156", CF_NORMAL_ZIGGURAT_156);
    PyModule_AddIntConstant(m, "NORMAL_BOX_MULLER", CF_NORMAL_BOX_MULLER);
    PyModule_AddIntConstant(m, "BILINEAR_CAFFE10", CF_BILINEAR_CAFFE10);
    PyModule_AddIntConstant(m, "BILINEAR_MASTER", CF_BILINEAR_MASTER);
    PyModule_AddIntConstant(m, "CRC32_ACCELERATED", cf_crc32_accelerated());
    return m;
}
