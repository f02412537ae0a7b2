/* Everything the decoders know about CPython's memory layout, in one struct,
 * filled at run time from the DWARF of libpython (and cross-checked against
 * _Py_DebugOffsets on 3.13+). Decoders test fields (an offset of -1 means the
 * field does not exist in this build) and feature flags; they never test
 * version numbers and hold no offsets of their own.
 *
 * Each entry names a type ("PyObject", a typedef or struct tag) and a member
 * path ("interpreters.head"). '|' separates alternatives tried in order, which
 * is how renamed fields across versions are expressed. */
#ifndef PYLEAK_LAYOUT_H
#define PYLEAK_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

/* X(field, type names, member path, required) */
#define PL_LAYOUT_OFFSETS(X) \
	X(ob_refcnt, "PyObject", "ob_refcnt", true) \
	X(ob_type, "PyObject", "ob_type", true) \
	X(ob_size, "PyVarObject", "ob_size", true) \
	X(tp_name, "PyTypeObject", "tp_name", true) \
	X(tp_basicsize, "PyTypeObject", "tp_basicsize", true) \
	X(tp_itemsize, "PyTypeObject", "tp_itemsize", true) \
	X(tp_dealloc, "PyTypeObject", "tp_dealloc", true) \
	X(tp_flags, "PyTypeObject", "tp_flags", true) \
	X(tp_traverse, "PyTypeObject", "tp_traverse", true) \
	X(tp_clear, "PyTypeObject", "tp_clear", true) \
	X(tp_weaklistoffset, "PyTypeObject", "tp_weaklistoffset", true) \
	X(tp_members, "PyTypeObject", "tp_members", true) \
	X(tp_base, "PyTypeObject", "tp_base", true) \
	X(tp_dict, "PyTypeObject", "tp_dict", true) \
	X(tp_dictoffset, "PyTypeObject", "tp_dictoffset", true) \
	X(tp_is_gc, "PyTypeObject", "tp_is_gc", true) \
	X(tp_bases, "PyTypeObject", "tp_bases", true) \
	X(tp_mro, "PyTypeObject", "tp_mro", true) \
	X(tp_cache, "PyTypeObject", "tp_cache", true) \
	X(tp_subclasses, "PyTypeObject", "tp_subclasses", true) \
	X(tp_del, "PyTypeObject", "tp_del", true) \
	X(tp_finalize, "PyTypeObject", "tp_finalize", true) \
	X(ht_name, "PyHeapTypeObject", "ht_name", true) \
	X(ht_slots, "PyHeapTypeObject", "ht_slots", true) \
	X(ht_qualname, "PyHeapTypeObject", "ht_qualname", true) \
	X(ht_cached_keys, "PyHeapTypeObject", "ht_cached_keys", true) \
	X(ht_module, "PyHeapTypeObject", "ht_module", false) \
	X(gc_next, "PyGC_Head", "_gc_next", true) \
	X(gc_prev, "PyGC_Head", "_gc_prev", true) \
	X(rt_interp_head, "_PyRuntimeState", "interpreters.head", true) \
	X(rt_interp_main, "_PyRuntimeState", "interpreters.main", true) \
	X(rt_gc, "_PyRuntimeState", "gc", false) \
	X(rt_debug_offsets, "_PyRuntimeState", "debug_offsets", false) \
	X(is_next, "PyInterpreterState", "next", true) \
	X(is_id, "PyInterpreterState", "id", true) \
	X(is_tstate_head, "PyInterpreterState", "threads.head|tstate_head", true) \
	X(is_gc, "PyInterpreterState", "gc", false) \
	X(is_modules, "PyInterpreterState", "imports.modules|modules", true) \
	X(is_sysdict, "PyInterpreterState", "sysdict", true) \
	X(is_builtins, "PyInterpreterState", "builtins", true) \
	X(is_ceval, "PyInterpreterState", "ceval", false) \
	X(rt_ceval, "_PyRuntimeState", "ceval", false) \
	X(ceval_rt_gil, "_ceval_runtime_state", "gil", false) \
	X(ceval_gil_ptr, "_ceval_state", "gil", false) \
	X(gil_last_holder, "_gil_runtime_state", "last_holder", false) \
	X(gil_locked, "_gil_runtime_state", "locked", false) \
	X(ts_exc_info, "PyThreadState", "exc_info", false) \
	X(ts_curexc, "PyThreadState", "current_exception|curexc_value", false) \
	X(ts_context, "PyThreadState", "context", false) \
	X(ts_async_gen_finalizer, "PyThreadState", "async_gen_finalizer", false) \
	X(exinfo_value, "_PyErr_StackItem", "exc_value", false) \
	X(exinfo_previous, "_PyErr_StackItem", "previous_item", false) \
	X(gcs_enabled, "_gc_runtime_state", "enabled", true) \
	X(gcs_debug, "_gc_runtime_state", "debug", true) \
	X(gcs_generations, "_gc_runtime_state", "generations|young", true) \
	X(gcs_old, "_gc_runtime_state", "old", false) \
	X(gcs_permanent, "_gc_runtime_state", "permanent_generation", true) \
	X(gcs_stats, "_gc_runtime_state", "generation_stats", true) \
	X(gcs_collecting, "_gc_runtime_state", "collecting", true) \
	X(gcs_garbage, "_gc_runtime_state", "garbage", true) \
	X(gcs_callbacks, "_gc_runtime_state", "callbacks", true) \
	X(gen_head, "gc_generation", "head", true) \
	X(gen_threshold, "gc_generation", "threshold", true) \
	X(gen_count, "gc_generation", "count", true) \
	X(gst_collections, "gc_generation_stats", "collections", true) \
	X(gst_collected, "gc_generation_stats", "collected", true) \
	X(gst_uncollectable, "gc_generation_stats", "uncollectable", true) \
	X(ts_next, "PyThreadState", "next", true) \
	X(ts_interp, "PyThreadState", "interp", true) \
	X(ts_thread_id, "PyThreadState", "thread_id", true) \
	X(ts_native_thread_id, "PyThreadState", "native_thread_id", false) \
	X(ts_id, "PyThreadState", "id", true) \
	X(ts_dict, "PyThreadState", "dict", true) \
	X(ts_frame, "PyThreadState", "frame", false) \
	X(ts_cframe, "PyThreadState", "cframe", false) \
	X(ts_current_frame, "PyThreadState", "current_frame", false) \
	X(cf_current_frame, "_PyCFrame", "current_frame", false) \
	X(tuple_items, "PyTupleObject", "ob_item", true) \
	X(list_items, "PyListObject", "ob_item", true) \
	X(list_allocated, "PyListObject", "allocated", true) \
	X(dict_used, "PyDictObject", "ma_used", true) \
	X(dict_keys, "PyDictObject", "ma_keys", true) \
	X(dict_values, "PyDictObject", "ma_values", true) \
	X(dk_refcnt, "PyDictKeysObject", "dk_refcnt", true) \
	X(dk_size, "PyDictKeysObject", "dk_size", false) \
	X(dk_log2_size, "PyDictKeysObject", "dk_log2_size", false) \
	X(dk_log2_index_bytes, "PyDictKeysObject", "dk_log2_index_bytes", false) \
	X(dk_kind, "PyDictKeysObject", "dk_kind", false) \
	X(dk_nentries, "PyDictKeysObject", "dk_nentries", true) \
	X(dk_indices, "PyDictKeysObject", "dk_indices", true) \
	X(dke_key, "PyDictKeyEntry", "me_key", true) \
	X(dke_value, "PyDictKeyEntry", "me_value", true) \
	X(due_key, "PyDictUnicodeEntry", "me_key", false) \
	X(due_value, "PyDictUnicodeEntry", "me_value", false) \
	X(dv_values, "PyDictValues", "values", false) \
	X(dv_capacity, "PyDictValues", "capacity", false) \
	X(dv_size, "PyDictValues", "size", false) \
	X(dv_embedded, "PyDictValues", "embedded", false) \
	X(dv_valid, "PyDictValues", "valid", false) \
	X(descr_type, "PyDescrObject", "d_type", true) \
	X(descr_name, "PyDescrObject", "d_name", true) \
	X(dk_lookup, "PyDictKeysObject", "dk_lookup", false) \
	X(md_name, "PyMemberDef", "name", true) \
	X(md_type, "PyMemberDef", "type", true) \
	X(md_offset, "PyMemberDef", "offset", true) \
	X(func_code, "PyFunctionObject", "func_code", true) \
	X(func_globals, "PyFunctionObject", "func_globals", true) \
	X(func_builtins, "PyFunctionObject", "func_builtins", false) \
	X(func_module, "PyFunctionObject", "func_module", true) \
	X(func_defaults, "PyFunctionObject", "func_defaults", true) \
	X(func_kwdefaults, "PyFunctionObject", "func_kwdefaults", true) \
	X(func_doc, "PyFunctionObject", "func_doc", true) \
	X(func_name, "PyFunctionObject", "func_name", true) \
	X(func_dict, "PyFunctionObject", "func_dict", true) \
	X(func_closure, "PyFunctionObject", "func_closure", true) \
	X(func_annotations, "PyFunctionObject", "func_annotations", true) \
	X(func_typeparams, "PyFunctionObject", "func_typeparams", false) \
	X(func_annotate, "PyFunctionObject", "func_annotate", false) \
	X(func_qualname, "PyFunctionObject", "func_qualname", true) \
	X(cell_ref, "PyCellObject", "ob_ref", true) \
	X(meth_func, "PyMethodObject", "im_func", true) \
	X(meth_self, "PyMethodObject", "im_self", true) \
	X(cfunc_ml, "PyCFunctionObject", "m_ml", true) \
	X(cfunc_self, "PyCFunctionObject", "m_self", true) \
	X(cfunc_module, "PyCFunctionObject", "m_module", true) \
	X(cmeth_class, "PyCMethodObject", "mm_class", false) \
	X(ml_name, "PyMethodDef", "ml_name", true) \
	X(ml_flags, "PyMethodDef", "ml_flags", true) \
	X(mod_dict, "PyModuleObject", "md_dict", true) \
	X(mod_def, "PyModuleObject", "md_def", true) \
	X(mod_state, "PyModuleObject", "md_state", true) \
	X(mod_name, "PyModuleObject", "md_name", false) \
	X(mdef_size, "PyModuleDef", "m_size", true) \
	X(mdef_traverse, "PyModuleDef", "m_traverse", true) \
	X(mdef_name, "PyModuleDef", "m_name", true) \
	X(fo_back, "PyFrameObject", "f_back", true) \
	X(fo_code, "PyFrameObject", "f_code", false) \
	X(fo_builtins, "PyFrameObject", "f_builtins", false) \
	X(fo_globals, "PyFrameObject", "f_globals", false) \
	X(fo_locals, "PyFrameObject", "f_locals", false) \
	X(fo_trace, "PyFrameObject", "f_trace", true) \
	X(fo_valuestack, "PyFrameObject", "f_valuestack", false) \
	X(fo_stacktop, "PyFrameObject", "f_stacktop", false) \
	X(fo_stackdepth, "PyFrameObject", "f_stackdepth", false) \
	X(fo_localsplus, "PyFrameObject", "f_localsplus", false) \
	X(fo_lineno, "PyFrameObject", "f_lineno", false) \
	X(fo_lasti, "PyFrameObject", "f_lasti", false) \
	X(fo_frame, "PyFrameObject", "f_frame", false) \
	X(fo_state, "PyFrameObject", "f_state", false) \
	X(fo_extra_locals, "PyFrameObject", "f_extra_locals", false) \
	X(fo_locals_cache, "PyFrameObject", "f_locals_cache", false) \
	X(co_nlocals, "PyCodeObject", "co_nlocals", false) \
	X(co_nlocalsplus, "PyCodeObject", "co_nlocalsplus", false) \
	X(co_stacksize, "PyCodeObject", "co_stacksize", false) \
	X(co_cellvars, "PyCodeObject", "co_cellvars", false) \
	X(co_freevars, "PyCodeObject", "co_freevars", false) \
	X(co_varnames, "PyCodeObject", "co_varnames", false) \
	X(co_localsplusnames, "PyCodeObject", "co_localsplusnames", false) \
	X(co_nfreevars, "PyCodeObject", "co_nfreevars", false) \
	X(co_name, "PyCodeObject", "co_name", true) \
	X(co_qualname, "PyCodeObject", "co_qualname", false) \
	X(co_filename, "PyCodeObject", "co_filename", true) \
	X(co_firstlineno, "PyCodeObject", "co_firstlineno", true) \
	X(co_flags, "PyCodeObject", "co_flags", true) \
	X(co_lnotab, "PyCodeObject", "co_lnotab", false) \
	X(co_linetable, "PyCodeObject", "co_linetable", false) \
	X(co_code_adaptive, "PyCodeObject", "co_code_adaptive", false) \
	X(co_code, "PyCodeObject", "co_code", false) \
	X(co_firsttraceable, "PyCodeObject", "_co_firsttraceable", false) \
	X(if_code, "_PyInterpreterFrame", "f_executable|f_code", false) \
	X(if_func, "_PyInterpreterFrame", "f_funcobj|f_func", false) \
	X(if_globals, "_PyInterpreterFrame", "f_globals", false) \
	X(if_locals, "_PyInterpreterFrame", "f_locals", false) \
	X(if_frame_obj, "_PyInterpreterFrame", "frame_obj", false) \
	X(if_previous, "_PyInterpreterFrame", "previous", false) \
	X(if_stacktop, "_PyInterpreterFrame", "stacktop", false) \
	X(if_stackpointer, "_PyInterpreterFrame", "stackpointer", false) \
	X(if_owner, "_PyInterpreterFrame", "owner", false) \
	X(if_localsplus, "_PyInterpreterFrame", "localsplus", false) \
	X(if_instr_ptr, "_PyInterpreterFrame", "instr_ptr|prev_instr", false) \
	X(gen_frame, "PyGenObject", "gi_frame", false) \
	X(gen_code, "PyGenObject", "gi_code", false) \
	X(gen_name, "PyGenObject", "gi_name", true) \
	X(gen_qualname, "PyGenObject", "gi_qualname", true) \
	X(gen_exc_type, "PyGenObject", "gi_exc_state.exc_type", false) \
	X(gen_exc_value, "PyGenObject", "gi_exc_state.exc_value", true) \
	X(gen_exc_tb, "PyGenObject", "gi_exc_state.exc_traceback", false) \
	X(gen_frame_state, "PyGenObject", "gi_frame_state", false) \
	X(gen_iframe, "PyGenObject", "gi_iframe", false) \
	X(gen_running, "PyGenObject", "gi_running", false) \
	X(agen_finalizer, "PyAsyncGenObject", "ag_origin_or_finalizer|ag_finalizer", false) \
	X(exc_dict, "PyBaseExceptionObject", "dict", true) \
	X(exc_args, "PyBaseExceptionObject", "args", true) \
	X(exc_notes, "PyBaseExceptionObject", "notes", false) \
	X(exc_traceback, "PyBaseExceptionObject", "traceback", true) \
	X(exc_context, "PyBaseExceptionObject", "context", true) \
	X(exc_cause, "PyBaseExceptionObject", "cause", true) \
	X(tb_next, "PyTracebackObject", "tb_next", true) \
	X(tb_frame, "PyTracebackObject", "tb_frame", true) \
	X(tb_lineno, "PyTracebackObject", "tb_lineno", true) \
	X(wr_object, "PyWeakReference", "wr_object", true) \
	X(wr_callback, "PyWeakReference", "wr_callback", true) \
	X(prop_get, "propertyobject", "prop_get", false) \
	X(prop_set, "propertyobject", "prop_set", false) \
	X(prop_del, "propertyobject", "prop_del", false) \
	X(prop_doc, "propertyobject", "prop_doc", false) \
	X(prop_name, "propertyobject", "prop_name", false) \
	X(cm_callable, "classmethod", "cm_callable", false) \
	X(cm_dict, "classmethod", "cm_dict", false) \
	X(sm_callable, "staticmethod", "sm_callable", false) \
	X(sm_dict, "staticmethod", "sm_dict", false) \
	X(ns_dict, "_PyNamespaceObject", "ns_dict", false) \
	X(mpp_mapping, "mappingproxyobject", "mapping", false) \
	X(wrap_descr, "wrapperobject", "descr", false) \
	X(wrap_self, "wrapperobject", "self", false) \
	X(slice_start, "PySliceObject", "start", false) \
	X(slice_stop, "PySliceObject", "stop", false) \
	X(slice_step, "PySliceObject", "step", false) \
	X(abc_registry, "_abc_data", "_abc_registry", false) \
	X(abc_cache, "_abc_data", "_abc_cache", false) \
	X(abc_negative_cache, "_abc_data", "_abc_negative_cache", false) \
	X(tg_doc, "_tuplegetterobject", "doc", false) \
	X(pat_groupindex, "PatternObject", "groupindex", false) \
	X(pat_indexgroup, "PatternObject", "indexgroup", false) \
	X(pat_pattern, "PatternObject", "pattern", false) \
	X(ast_dict, "AST_object", "dict", false) \
	X(lru_root_next, "lru_cache_object", "root.next", false) \
	X(lru_root, "lru_cache_object", "root", false) \
	X(lru_func, "lru_cache_object", "func", false) \
	X(lru_cache, "lru_cache_object", "cache", false) \
	X(lru_cache_info_type, "lru_cache_object", "cache_info_type", false) \
	X(lru_dict, "lru_cache_object", "dict", false) \
	X(lru_kwd_mark, "lru_cache_object", "kwd_mark", false) \
	X(lru_elem_type, "lru_cache_object", "lru_list_elem_type", false) \
	X(lru_elem_next, "lru_list_elem", "next", false) \
	X(lru_elem_key, "lru_list_elem", "key", false) \
	X(lru_elem_result, "lru_list_elem", "result", false) \
	X(odict_first, "PyODictObject", "od_first", false) \
	X(odict_inst_dict, "PyODictObject", "od_inst_dict", false) \
	X(odnode_key, "_odictnode", "key", false) \
	X(odnode_next, "_odictnode", "next", false) \
	X(defdict_factory, "defdictobject", "default_factory", false) \
	X(deque_leftblock, "dequeobject", "leftblock", false) \
	X(deque_rightblock, "dequeobject", "rightblock", false) \
	X(deque_leftindex, "dequeobject", "leftindex", false) \
	X(deque_rightindex, "dequeobject", "rightindex", false) \
	X(block_data, "BLOCK|block", "data", false) \
	X(block_rightlink, "BLOCK|block", "rightlink", false) \
	X(partial_fn, "partialobject", "fn", false) \
	X(partial_args, "partialobject", "args", false) \
	X(partial_kw, "partialobject", "kw", false) \
	X(partial_dict, "partialobject", "dict", false) \
	X(descr_type_obj, "PyDescrObject", "d_type", true) \
	X(set_mask, "PySetObject", "mask", true) \
	X(set_used, "PySetObject", "used", true) \
	X(set_table, "PySetObject", "table", true) \
	X(set_smalltable, "PySetObject", "smalltable", true) \
	X(str_length, "PyASCIIObject", "length", true) \
	X(str_state, "PyASCIIObject", "state", true) \
	X(ustr_data, "PyUnicodeObject", "data", true) \
	X(bytes_sval, "PyBytesObject", "ob_sval", true) \
	X(float_val, "PyFloatObject", "ob_fval", true) \
	X(bytearray_alloc, "PyByteArrayObject", "ob_alloc", true) \
	X(long_digit, "PyLongObject", "long_value.ob_digit|ob_digit", true) \
	X(long_tag, "PyLongObject", "long_value.lv_tag", false)

/* X(field, type names) */
#define PL_LAYOUT_SIZES(X) \
	X(sizeof_object, "PyObject") \
	X(sizeof_varobject, "PyVarObject") \
	X(sizeof_type, "PyTypeObject") \
	X(sizeof_heaptype, "PyHeapTypeObject") \
	X(sizeof_gc_head, "PyGC_Head") \
	X(sizeof_runtime, "_PyRuntimeState") \
	X(sizeof_gen, "gc_generation") \
	X(sizeof_gen_stats, "gc_generation_stats") \
	X(sizeof_dk_entry, "PyDictKeyEntry") \
	X(sizeof_du_entry, "PyDictUnicodeEntry") \
	X(sizeof_dk, "PyDictKeysObject") \
	X(sizeof_ascii, "PyASCIIObject") \
	X(sizeof_compact, "PyCompactUnicodeObject") \
	X(sizeof_member_def, "PyMemberDef") \
	X(sizeof_setentry, "setentry") \
	X(sizeof_interp_frame, "_PyInterpreterFrame") \
	X(sizeof_frame_object, "PyFrameObject")

/* X(field, type names, member path) of bit-fields: bit offset and width */
#define PL_LAYOUT_BITS(X) \
	X(str_interned, "PyASCIIObject", "state.interned") \
	X(str_kind, "PyASCIIObject", "state.kind") \
	X(str_compact, "PyASCIIObject", "state.compact") \
	X(str_ascii, "PyASCIIObject", "state.ascii")

struct pl_bitfield {
	int32_t bit_offset;   /* from the start of the object; -1 if absent */
	int32_t bit_size;
};

struct pl_layout {
#define PL_L_OFF(f, t, m, r) int32_t f;
#define PL_L_SIZE(f, t) int32_t f;
#define PL_L_BITS(f, t, m) struct pl_bitfield f;
	PL_LAYOUT_OFFSETS(PL_L_OFF)
	PL_LAYOUT_SIZES(PL_L_SIZE)
	PL_LAYOUT_BITS(PL_L_BITS)
#undef PL_L_OFF
#undef PL_L_SIZE
#undef PL_L_BITS

	/* Feature flags and constants that DWARF does not carry (macros), set
	 * from the version in pl_layout_finish(). */
	uint32_t hexversion;
	uint64_t tpf_heaptype, tpf_have_gc, tpf_managed_dict, tpf_managed_weakref,
		 tpf_inline_values, tpf_long_subclass, tpf_type_subclass,
		 tpf_static_builtin;
	int32_t preheader_words;        /* words before the gc head for PREHEADER types */
	bool immortal_refcnt;           /* 3.12+: low 32 bits of ob_refcnt < 0 means immortal */
	bool long_tagged;               /* 3.12+: int size in lv_tag */
	bool dict_log2;                 /* 3.11+: dk_log2_size / dk_kind keys */
	int32_t dk_unicode_kind, dk_split_kind;
	/* instance attribute storage: 0 dict only, 1 (3.11) values at obj-32
	 * and dict at obj-24, 2 (3.12) tagged dict-or-values at obj-24,
	 * 3 (3.13+) inline values after the object, dict pointer at obj-24 */
	int32_t managed_dict_style;
	bool subtype_visits_type_always;  /* 3.8 */
	bool cfunc_visits_class;          /* 3.9+: meth_traverse visits mm_class */
	int32_t meth_method_flag;         /* METH_METHOD */
	int32_t t_object_ex;              /* T_OBJECT_EX */
	int32_t deque_blocklen;
	/* enum constants from DWARF (3.11+ frames); -1 when absent */
	int32_t frame_cleared, owned_by_frame_object, owned_by_cstack;
	/* frame states (3.10+) and owners (3.11+) from DWARF; INT32_MIN when absent */
	int32_t frame_created, frame_suspended, frame_suspended_yf, frame_executing;
	int32_t owned_by_generator;
	/* how code objects map instruction offsets to lines: 0 co_lnotab
	 * (<=3.9), 1 PEP 626 co_linetable (3.10), 2 location table (3.11+) */
	int32_t linetable_format;
	int32_t lasti_bytes;            /* bytes per unit of PyFrameObject.f_lasti (<=3.10) */
	int32_t op_yield_from;          /* the YIELD_FROM opcode (<=3.10), else -1 */
	uint32_t gc_list_mask;          /* low bits of _gc_next/_gc_prev that are flags */
};

struct pl_dwarf;   /* coredump/dwarf.h */

/* Fill from DWARF. A missing required field is an error naming it. */
struct pl_error *pl_layout_from_dwarf(struct pl_layout *L, struct pl_dwarf *dw);
/* Derive flags from the version (PY_VERSION_HEX) once it is known. */
void pl_layout_finish(struct pl_layout *L, uint32_t hexversion);

/* Print every field (for `info --layout` and for the tests). */
#include <stdio.h>
void pl_layout_dump(const struct pl_layout *L, FILE *out);

#endif
