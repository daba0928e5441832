/*
 * mip4.wire._accel: the two costs of a decoder that CPython makes dear, in C.
 *
 * 1. HmacMd5: HMAC-MD5 (RFC 2104) with precomputed pads.
 * 2. SlotBuilder: an instance of a frozen, slotted dataclass from the values of its slots.
 *
 * Why C for HMAC-MD5: every Registration Request, Reply and Handoff message carries an HMAC-MD5
 * authenticator (RFC 5944 §3.5.1, RFC 4721 §6), and a receiver verifies it before it acts.
 * In CPython the two MD5 compressions cost little; the six method calls around them (copy,
 * update and digest of the inner and outer states) cost three times as much. Here they are
 * plain C calls into OpenSSL's MD5, and the comparison is OpenSSL's constant-time one.
 *
 * The module is optional: mip4.wire.auth has the same class in Python (_PyHmacMd5) and uses
 * it when this extension was not built. tests/wire/test_accel.py checks that both give the
 * same MACs and verdicts.
 */
#define PY_SSIZE_T_CLEAN
/* MD5_Init/Update/Final: deprecated in OpenSSL 3 in favour of EVP, whose per-call
 * provider dispatch would cost more than the hashing of these short messages. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <Python.h>
#include <stddef.h>
#include <string.h>
#include <structmember.h>
#include <openssl/crypto.h>
#include <openssl/md5.h>

#define MD5_BLOCK 64
#define MAC_LENGTH MD5_DIGEST_LENGTH /* 16 */

typedef struct {
    PyObject_HEAD
    MD5_CTX inner; /* state after absorbing K XOR ipad */
    MD5_CTX outer; /* state after absorbing K XOR opad */
} HmacMd5Object;

static int
HmacMd5_init(HmacMd5Object *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"key", NULL};
    Py_buffer key;
    unsigned char block[MD5_BLOCK];
    unsigned char pad[MD5_BLOCK];

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*:HmacMd5", keywords, &key)) {
        return -1;
    }
    memset(block, 0, sizeof block);
    if (key.len > MD5_BLOCK) { /* RFC 2104 §2: a longer key is hashed first */
        MD5(key.buf, (size_t)key.len, block);
    }
    else {
        memcpy(block, key.buf, (size_t)key.len);
    }
    PyBuffer_Release(&key);
    for (int i = 0; i < MD5_BLOCK; i++) {
        pad[i] = block[i] ^ 0x36;
    }
    MD5_Init(&self->inner);
    MD5_Update(&self->inner, pad, MD5_BLOCK);
    for (int i = 0; i < MD5_BLOCK; i++) {
        pad[i] = block[i] ^ 0x5c;
    }
    MD5_Init(&self->outer);
    MD5_Update(&self->outer, pad, MD5_BLOCK);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
    return 0;
}

static void
hmac(const HmacMd5Object *self, const void *data, size_t length, unsigned char *out)
{
    MD5_CTX ctx = self->inner;
    MD5_Update(&ctx, data, length);
    MD5_Final(out, &ctx);
    ctx = self->outer;
    MD5_Update(&ctx, out, MAC_LENGTH);
    MD5_Final(out, &ctx);
    OPENSSL_cleanse(&ctx, sizeof ctx);
}

/* bytes and every other buffer: bytes (what decoders hold) without a buffer request */
static int
get_buffer(PyObject *arg, Py_buffer *view)
{
    if (PyBytes_CheckExact(arg)) {
        view->obj = NULL;
        view->buf = PyBytes_AS_STRING(arg);
        view->len = PyBytes_GET_SIZE(arg);
        return 0;
    }
    return PyObject_GetBuffer(arg, view, PyBUF_SIMPLE);
}

static void
release_buffer(Py_buffer *view)
{
    if (view->obj != NULL) {
        PyBuffer_Release(view);
    }
}

static PyObject *
HmacMd5_digest(HmacMd5Object *self, PyObject *arg)
{
    Py_buffer data;
    unsigned char out[MAC_LENGTH];

    if (get_buffer(arg, &data) < 0) {
        return NULL;
    }
    hmac(self, data.buf, (size_t)data.len, out);
    release_buffer(&data);
    return PyBytes_FromStringAndSize((const char *)out, MAC_LENGTH);
}

static PyObject *
HmacMd5_verify_trailing(HmacMd5Object *self, PyObject *arg)
{
    Py_buffer data;
    unsigned char out[MAC_LENGTH];
    int equal;

    if (get_buffer(arg, &data) < 0) {
        return NULL;
    }
    if (data.len < MAC_LENGTH) {
        release_buffer(&data);
        PyErr_Format(PyExc_ValueError, "%zd bytes cannot end with a %d-byte MAC", data.len,
                     MAC_LENGTH);
        return NULL;
    }
    hmac(self, data.buf, (size_t)(data.len - MAC_LENGTH), out);
    equal = CRYPTO_memcmp(out, (const char *)data.buf + data.len - MAC_LENGTH, MAC_LENGTH) == 0;
    release_buffer(&data);
    return PyBool_FromLong(equal);
}

static void
HmacMd5_dealloc(HmacMd5Object *self)
{
    PyTypeObject *type = Py_TYPE(self);
    OPENSSL_cleanse(&self->inner, sizeof self->inner); /* the pads are the key's */
    OPENSSL_cleanse(&self->outer, sizeof self->outer);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static PyMethodDef HmacMd5_methods[] = {
    {"digest", (PyCFunction)HmacMd5_digest, METH_O,
     "digest(data) -> bytes: the HMAC-MD5 of data under this key."},
    {"verify_trailing", (PyCFunction)HmacMd5_verify_trailing, METH_O,
     "verify_trailing(data) -> bool: whether data ends with the HMAC-MD5 of everything before "
     "its last 16 bytes (compared in constant time)."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot HmacMd5_slots[] = {
    {Py_tp_doc, "HmacMd5(key): HMAC-MD5 (RFC 2104) under one key, its pads precomputed."},
    {Py_tp_init, HmacMd5_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, HmacMd5_dealloc},
    {Py_tp_methods, HmacMd5_methods},
    {0, NULL},
};

static PyType_Spec HmacMd5_spec = {
    .name = "mip4.wire._accel.HmacMd5",
    .basicsize = sizeof(HmacMd5Object),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = HmacMd5_slots,
};

/* ---- SlotBuilder ---------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyTypeObject *cls;
    Py_ssize_t count;
    Py_ssize_t *offsets; /* of each slot, in the order of the builder's arguments */
    vectorcallfunc vectorcall;
} SlotBuilderObject;

static PyObject *
SlotBuilder_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    SlotBuilderObject *self = (SlotBuilderObject *)op;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);

    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0) {
        PyErr_SetString(PyExc_TypeError, "a slot builder takes positional values only");
        return NULL;
    }
    if (nargs != self->count) {
        PyErr_Format(PyExc_TypeError, "building %s needs %zd values, got %zd",
                     self->cls->tp_name, self->count, nargs);
        return NULL;
    }
    PyObject *obj = self->cls->tp_alloc(self->cls, 0); /* zeroed, and tracked by the GC */
    if (obj == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        Py_INCREF(args[i]);
        *(PyObject **)((char *)obj + self->offsets[i]) = args[i];
    }
    return obj;
}

static PyObject *
SlotBuilder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"cls", "names", NULL};
    PyObject *cls;
    PyObject *names;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!:SlotBuilder", keywords, &PyType_Type,
                                     &cls, &PyTuple_Type, &names)) {
        return NULL;
    }
    PyTypeObject *target = (PyTypeObject *)cls;
    /* a class (not a built-in) whose instances object.__new__ makes: zeroed memory and its
       slots is then all an instance is, so nothing is left uninitialised */
    if (!(target->tp_flags & Py_TPFLAGS_HEAPTYPE) || target->tp_new != PyBaseObject_Type.tp_new
        || target->tp_alloc == NULL || target->tp_itemsize != 0) {
        PyErr_Format(PyExc_TypeError, "%s cannot be built slot by slot", target->tp_name);
        return NULL;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(names);
    Py_ssize_t *offsets = PyMem_Calloc(count ? (size_t)count : 1, sizeof(Py_ssize_t));
    if (offsets == NULL) {
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        PyObject *descr = PyUnicode_Check(name) ? _PyType_Lookup(target, name) : NULL;
        /* only a writable object slot of this class or a base: the offset is then inside
           every instance of cls, and holds a PyObject * (or NULL) */
        if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)
            || ((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT_EX
            || (((PyMemberDescrObject *)descr)->d_member->flags & READONLY)
            || !PyType_IsSubtype(target, PyDescr_TYPE(descr))) {
            PyMem_Free(offsets);
            PyErr_Format(PyExc_TypeError, "%R is not an object slot of %s", name,
                         target->tp_name);
            return NULL;
        }
        for (Py_ssize_t j = 0; j < i; j++) {
            if (offsets[j] == ((PyMemberDescrObject *)descr)->d_member->offset) {
                PyMem_Free(offsets);
                PyErr_Format(PyExc_TypeError, "slot %R named twice", name);
                return NULL;
            }
        }
        offsets[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
    }
    SlotBuilderObject *self = (SlotBuilderObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        PyMem_Free(offsets);
        return NULL;
    }
    Py_INCREF(cls);
    self->cls = target;
    self->count = count;
    self->offsets = offsets;
    self->vectorcall = SlotBuilder_vectorcall;
    return (PyObject *)self;
}

static int
SlotBuilder_traverse(SlotBuilderObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->cls);
    return 0;
}

static int
SlotBuilder_clear(SlotBuilderObject *self)
{
    Py_CLEAR(self->cls);
    return 0;
}

static void
SlotBuilder_dealloc(SlotBuilderObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    SlotBuilder_clear(self);
    PyMem_Free(self->offsets);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static PyMemberDef SlotBuilder_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(SlotBuilderObject, vectorcall), READONLY},
    {NULL},
};

static PyType_Slot SlotBuilder_slots[] = {
    {Py_tp_doc, "SlotBuilder(cls, names): builder(*values) is a new cls with each value in the "
                "slot of the same position in names; no __init__ runs."},
    {Py_tp_new, SlotBuilder_new},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_traverse, SlotBuilder_traverse},
    {Py_tp_clear, SlotBuilder_clear},
    {Py_tp_dealloc, SlotBuilder_dealloc},
    {Py_tp_members, SlotBuilder_members},
    {0, NULL},
};

static PyType_Spec SlotBuilder_spec = {
    .name = "mip4.wire._accel.SlotBuilder",
    .basicsize = sizeof(SlotBuilderObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .slots = SlotBuilder_slots,
};

/* ---- module ---------------------------------------------------------------------------- */

static int
add_type(PyObject *module, PyType_Spec *spec, const char *name)
{
    PyObject *type = PyType_FromModuleAndSpec(module, spec, NULL);
    if (type == NULL) {
        return -1;
    }
    if (PyModule_AddObject(module, name, type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    return 0;
}

static int
accel_exec(PyObject *module)
{
    if (add_type(module, &HmacMd5_spec, "HmacMd5") < 0) {
        return -1;
    }
    return add_type(module, &SlotBuilder_spec, "SlotBuilder");
}

static PyModuleDef_Slot accel_slots[] = {
    {Py_mod_exec, accel_exec},
    {0, NULL},
};

static struct PyModuleDef accel_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mip4.wire._accel",
    .m_doc = "HMAC-MD5 with precomputed pads, and slot builders, in C (optional; see "
             "mip4.wire.hmac_md5 and mip4.wire._util).",
    .m_size = 0,
    .m_slots = accel_slots,
};

PyMODINIT_FUNC
PyInit__accel(void)
{
    return PyModuleDef_Init(&accel_module);
}
