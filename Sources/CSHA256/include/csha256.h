#ifndef CSHA256_H
#define CSHA256_H

#include <stddef.h>
#include <stdint.h>

/// Whether this CPU has the SHA extensions (and SSSE3, SSE4.1) that
/// csha256_hardware_blocks needs. Checked with CPUID; 0 on other architectures.
int csha256_hardware_available(void);

/// Runs the SHA-256 compression function over `blocks` 64-byte blocks at `data`, updating
/// `state` (the eight working words, a..h). Call only when csha256_hardware_available().
void csha256_hardware_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);

#endif
