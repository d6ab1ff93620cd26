/* 64-bit FNV-1a, the one hash of effbench's keys and checksums (internal, not
 * installed). What it names is stored (run keys in databases, data-cache file
 * names, checkpoint checksums), so its values never change:
 * tests/test_keys.c pins them and tests/test_util.c the published FNV-1a
 * test vectors.
 *
 * The users differ only in what they feed it, each for a reason kept beside
 * it: the run key hashes its canonical JSON twice from two offsets (128
 * bits); the data cache ends each field with a 0xFF byte (no UTF-8 text holds
 * one, so "ab"+"c" and "a"+"bc" differ); a checkpoint mixes 8-byte words
 * (eb_fnv1a_words) to checksum hundreds of megabytes quickly. */
#ifndef EFFBENCH_UTIL_HASH_H
#define EFFBENCH_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

#define EB_FNV_OFFSET 0xCBF29CE484222325ull /* FNV-1a's offset basis */
#define EB_FNV_PRIME 0x100000001B3ull       /* = 1099511628211 */
/* The start of the run key, the data-cache key, tasks' data provenance and
 * merge's digest: the offset basis's decimal 14695981039346656037 with its
 * last digit lost, as written in the first schema. Every stored key depends
 * on it, so it stays (checkpoints start from EB_FNV_OFFSET). */
#define EB_FNV_SEED 1469598103934665603ull

/* FNV-1a of n bytes, continuing from h (EB_FNV_OFFSET to start). */
uint64_t eb_fnv1a(uint64_t h, const void *p, size_t n);
/* The same over a NUL-terminated string (without its NUL). */
uint64_t eb_fnv1a_str(uint64_t h, const char *s);
/* The word-wise variant of checkpoints: FNV-1a's step over each whole 8-byte
 * word (host byte order), followed by h ^= h >> 29 so the high bits reach
 * the low ones; a tail shorter than a word goes byte by byte as eb_fnv1a. */
uint64_t eb_fnv1a_words(uint64_t h, const void *p, size_t n);

#endif
