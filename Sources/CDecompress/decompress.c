#define _GNU_SOURCE
#include "CDecompress.h"

#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

struct CDecompress_stream {
    CDecompress_format format;
    /// Between two streams (or members, or frames): input ending here ends cleanly.
    int at_boundary;
    /// gzip: a member ended; the next byte starts another.
    int member_ended;
    z_stream zlib;
    ZSTD_DStream *zstd;
    lzma_stream xz;
    char message[160];
};

CDecompress_format CDecompress_detect(const unsigned char *bytes, size_t count) {
    if (count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) return CDecompress_gzip;
    if (count >= 4 && bytes[0] == 0x28 && bytes[1] == 0xb5 && bytes[2] == 0x2f && bytes[3] == 0xfd) return CDecompress_zstd;
    if (count >= 6 && memcmp(bytes, "\xfd" "7zXZ\0", 6) == 0) return CDecompress_xz;
    return CDecompress_plain;
}

CDecompress_stream *CDecompress_open(CDecompress_format format) {
    CDecompress_stream *stream = calloc(1, sizeof *stream);
    if (stream == NULL) return NULL;
    stream->format = format;
    switch (format) {
    case CDecompress_gzip:
        // 16 + MAX_WBITS: gzip wrapping only.
        if (inflateInit2(&stream->zlib, 16 + MAX_WBITS) != Z_OK) goto fail;
        return stream;
    case CDecompress_zstd:
        stream->zstd = ZSTD_createDStream();
        if (stream->zstd == NULL || ZSTD_isError(ZSTD_initDStream(stream->zstd))) goto fail;
        return stream;
    case CDecompress_xz: {
        lzma_stream initial = LZMA_STREAM_INIT;
        stream->xz = initial;
        if (lzma_stream_decoder(&stream->xz, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK) goto fail;
        return stream;
    }
    case CDecompress_plain:
        break;
    }
fail:
    CDecompress_close(stream);
    return NULL;
}

static CDecompress_status corrupt(CDecompress_stream *stream, const char *library, const char *what) {
    snprintf(stream->message, sizeof stream->message, "%s: %s", library, what ? what : "corrupt data");
    return CDecompress_corrupt;
}

static CDecompress_status run_gzip(
    CDecompress_stream *stream, const unsigned char **input, size_t *input_left, unsigned char **output,
    size_t *output_left, int at_end) {
    z_stream *z = &stream->zlib;
    for (;;) {
        if (stream->member_ended) {
            if (*input_left == 0) return at_end ? CDecompress_ended : CDecompress_more;
            // Another member follows (`cat a.gz b.gz`, or gzip's own multi-member output).
            if (inflateReset(z) != Z_OK) return corrupt(stream, "zlib", "cannot reset");
            stream->member_ended = 0;
        }
        z->next_in = (unsigned char *)*input;
        z->avail_in = (uInt)(*input_left > UINT32_MAX ? UINT32_MAX : *input_left);
        z->next_out = *output;
        z->avail_out = (uInt)(*output_left > UINT32_MAX ? UINT32_MAX : *output_left);
        size_t given_in = z->avail_in, given_out = z->avail_out;
        int result = inflate(z, Z_NO_FLUSH);
        size_t used = given_in - z->avail_in, made = given_out - z->avail_out;
        *input += used;
        *input_left -= used;
        *output += made;
        *output_left -= made;
        switch (result) {
        case Z_STREAM_END:
            stream->member_ended = 1;
            continue;
        case Z_OK:
            if (*output_left == 0 || *input_left == 0) {
                if (*input_left == 0 && at_end && made == 0) return CDecompress_cut;
                return CDecompress_more;
            }
            continue;
        case Z_BUF_ERROR:
            // No progress possible: more input or more room is wanted.
            if (*input_left == 0 && at_end && *output_left > 0) return CDecompress_cut;
            return CDecompress_more;
        default:
            return corrupt(stream, "zlib", z->msg);
        }
    }
}

static CDecompress_status run_zstd(
    CDecompress_stream *stream, const unsigned char **input, size_t *input_left, unsigned char **output,
    size_t *output_left, int at_end) {
    ZSTD_inBuffer in = {*input, *input_left, 0};
    ZSTD_outBuffer out = {*output, *output_left, 0};
    size_t hint;
    // Until the input is used up, or the output is full, or (at the end) nothing more comes out.
    while (in.pos < in.size || (at_end && out.pos < out.size)) {
        size_t before_in = in.pos, before_out = out.pos;
        hint = ZSTD_decompressStream(stream->zstd, &out, &in);
        if (ZSTD_isError(hint)) {
            *input += in.pos; *input_left -= in.pos; *output += out.pos; *output_left -= out.pos;
            return corrupt(stream, "zstd", ZSTD_getErrorName(hint));
        }
        if (in.pos == before_in && out.pos == before_out) break;
        // A call that moved nothing says what the next frame's header needs: not a boundary change.
        stream->at_boundary = hint == 0;
        if (out.pos == out.size) break;
    }
    *input += in.pos; *input_left -= in.pos; *output += out.pos; *output_left -= out.pos;
    if (at_end && *input_left == 0 && *output_left > 0) {
        return stream->at_boundary ? CDecompress_ended : CDecompress_cut;
    }
    return CDecompress_more;
}

static CDecompress_status run_xz(
    CDecompress_stream *stream, const unsigned char **input, size_t *input_left, unsigned char **output,
    size_t *output_left, int at_end) {
    lzma_stream *x = &stream->xz;
    x->next_in = *input;
    x->avail_in = *input_left;
    x->next_out = *output;
    x->avail_out = *output_left;
    lzma_ret result = lzma_code(x, at_end ? LZMA_FINISH : LZMA_RUN);
    size_t used = *input_left - x->avail_in, made = *output_left - x->avail_out;
    *input += used;
    *input_left -= used;
    *output += made;
    *output_left -= made;
    switch (result) {
    case LZMA_OK:
        return CDecompress_more;
    case LZMA_STREAM_END:
        return CDecompress_ended;
    case LZMA_BUF_ERROR:
        // With LZMA_FINISH and room to write: the input stops inside a stream.
        if (at_end && *output_left > 0) return CDecompress_cut;
        return CDecompress_more;
    case LZMA_FORMAT_ERROR:
        return corrupt(stream, "liblzma", "not in the .xz format");
    case LZMA_OPTIONS_ERROR:
        return corrupt(stream, "liblzma", "unsupported compression options");
    case LZMA_DATA_ERROR:
        return corrupt(stream, "liblzma", "compressed data is corrupt");
    case LZMA_MEM_ERROR:
        return corrupt(stream, "liblzma", "out of memory");
    default:
        return corrupt(stream, "liblzma", "decoding failed");
    }
}

CDecompress_status CDecompress_run(
    CDecompress_stream *stream, const unsigned char **input, size_t *input_left, unsigned char **output,
    size_t *output_left, int at_end) {
    switch (stream->format) {
    case CDecompress_gzip: return run_gzip(stream, input, input_left, output, output_left, at_end);
    case CDecompress_zstd: return run_zstd(stream, input, input_left, output, output_left, at_end);
    case CDecompress_xz: return run_xz(stream, input, input_left, output, output_left, at_end);
    case CDecompress_plain: break;
    }
    return corrupt(stream, "edgescope", "not a compressed stream");
}

const char *CDecompress_message(const CDecompress_stream *stream) { return stream->message; }

void CDecompress_close(CDecompress_stream *stream) {
    if (stream == NULL) return;
    switch (stream->format) {
    case CDecompress_gzip: inflateEnd(&stream->zlib); break;
    case CDecompress_zstd: ZSTD_freeDStream(stream->zstd); break;
    case CDecompress_xz: lzma_end(&stream->xz); break;
    case CDecompress_plain: break;
    }
    free(stream);
}

static int close_nothing(void *cookie) {
    (void)cookie;
    return 0;
}

FILE *CDecompress_reading_stream(void *cookie, ssize_t (*read)(void *cookie, char *buffer, size_t count)) {
    cookie_io_functions_t functions = {.read = read, .write = NULL, .seek = NULL, .close = close_nothing};
    FILE *stream = fopencookie(cookie, "r", functions);
    // Buffered: an unbuffered cookie stream is read one byte per call.
    if (stream != NULL) setvbuf(stream, NULL, _IOFBF, 1 << 16);
    return stream;
}
