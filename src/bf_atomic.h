/* Relaxed atomic load/store for the kernel dispatch pointers: tests switch them
 * while other threads may sign (the Cython API runs without the GIL). Relaxed
 * order is enough (both kernels give identical results) and compiles to plain
 * loads and stores. */
#ifndef BF_ATOMIC_H
#define BF_ATOMIC_H

#if defined(__GNUC__) || defined(__clang__)
#define BF_LOAD(p) __atomic_load_n(&(p), __ATOMIC_RELAXED)
#define BF_STORE(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELAXED)
#else
#define BF_LOAD(p) (p)
#define BF_STORE(p, v) ((p) = (v))
#endif

#endif /* BF_ATOMIC_H */
