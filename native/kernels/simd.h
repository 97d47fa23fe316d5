/*
 * Small AVX2 helpers shared by the kernels (one definition each): horizontal sums, the scalar
 * integer dot of a partial last block, and bf16 → f32 widening (f32 bits = bf16 bits << 16).
 */
#ifndef XDS_SIMD_H
#define XDS_SIMD_H
#include <immintrin.h>
#include <stdint.h>

static inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline int32_t hsum8i(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

static inline __m256 bf16x8_to_f32(const uint16_t *p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

static inline float bf16_to_f32(uint16_t b) {
  union { uint32_t u; float f; } c = { .u = (uint32_t)b << 16 };
  return c.f;
}

/* Element idx (8 of them) of an array of f32, or of bf16 bits when bf16 (weights, KV cache rows). */
static inline __attribute__((always_inline)) __m256 f32_or_bf16x8(const void *p, size_t idx, const int bf16) {
  return bf16 ? bf16x8_to_f32((const uint16_t *)p + idx) : _mm256_loadu_ps((const float *)p + idx);
}

static inline __attribute__((always_inline)) float f32_or_bf16(const void *p, size_t idx, const int bf16) {
  return bf16 ? bf16_to_f32(((const uint16_t *)p)[idx]) : ((const float *)p)[idx];
}

/* Integer dot of a partial last block (n < 32 elements). */
static inline int32_t dot_tail(const int8_t *xq, const int8_t *w, int n) {
  int32_t s = 0;
  for (int i = 0; i < n; i++) s += (int32_t)xq[i] * (int32_t)w[i];
  return s;
}

#endif
