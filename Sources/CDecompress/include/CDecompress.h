// zlib, libzstd and liblzma behind one small streaming interface: the compressed capture formats
// edgescope reads (gzip, zstd, xz), told apart by their magic bytes. Imported only by PcapSource.
#ifndef EDGESCOPE_CDECOMPRESS_H
#define EDGESCOPE_CDECOMPRESS_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/// How a byte stream is compressed.
typedef enum {
    CDecompress_plain = 0,
    CDecompress_gzip = 1,
    CDecompress_zstd = 2,
    CDecompress_xz = 3,
} CDecompress_format;

/// What `CDecompress_run` did.
typedef enum {
    /// Progress, or none possible without more input or more output space: call again.
    CDecompress_more = 0,
    /// `at_end` was given and every stream in the input ended whole: nothing more will come.
    CDecompress_ended = 1,
    /// The data is corrupt: `CDecompress_message` says how.
    CDecompress_corrupt = -1,
    /// `at_end` was given and the input stops inside a stream: it was cut short.
    CDecompress_cut = -2,
} CDecompress_status;

typedef struct CDecompress_stream CDecompress_stream;

/// The format whose magic bytes start `bytes` (gzip 1f 8b, zstd 28 b5 2f fd, xz fd 37 7a 58 5a 00),
/// or `CDecompress_plain`.
CDecompress_format CDecompress_detect(const unsigned char *bytes, size_t count);

/// A decoder for `format` (not plain), or NULL when memory runs out.
CDecompress_stream *CDecompress_open(CDecompress_format format);

/// Decodes from `*input` (`*input_left` bytes) into `*output` (`*output_left` bytes), advancing
/// both. `at_end` says no input follows what is given. Concatenated streams (`cat a.gz b.gz`)
/// decode as one.
CDecompress_status CDecompress_run(
    CDecompress_stream *stream, const unsigned char **input, size_t *input_left, unsigned char **output,
    size_t *output_left, int at_end);

/// The library's words for the last `CDecompress_corrupt` (never NULL).
const char *CDecompress_message(const CDecompress_stream *stream);

void CDecompress_close(CDecompress_stream *stream);

/// A stdio stream (64 KiB buffer) whose reads call `read(cookie, buffer, count)` (which returns the
/// bytes copied, 0 at the end): how libpcap reads decompressed bytes, and bytes from a pipe
/// that the reader has already looked into. fclose leaves the cookie alone. NULL on failure.
FILE *CDecompress_reading_stream(void *cookie, ssize_t (*read)(void *cookie, char *buffer, size_t count));

#endif
