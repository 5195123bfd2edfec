/* CRC16 and the key -> hash slot mapping of Redis Cluster. */
#ifndef PX_CRC16_H
#define PX_CRC16_H

#include <stddef.h>
#include <stdint.h>

#define CRC16_SLOTS 16384

/* The CRC16/XMODEM of the len bytes at buf, as Redis computes it. */
uint16_t crc16(const char *buf, size_t len);
/* The hash slot (0..16383) of a key, honouring {hash tags}. */
unsigned crc16_key_slot(const char *key, size_t len);

#endif
