/* HTTP/1.1 response framing for the REST client: status line, the headers that
 * decide framing (Content-Length, Transfer-Encoding, Connection), and the body
 * (fixed length, chunked, or up to the connection's end).
 *
 * The input is untrusted: every read goes through bf_scan.h's bounded cursor or
 * an explicit length check. The framer is incremental: keep the bf_http_msg
 * between calls on the same response (zero it for each new one) and call again
 * with the whole buffered response (buf[0] its first byte; the bytes given before,
 * and maybe more) and the same max_body, when at least `need` bytes are there.
 *
 * Work: each call scans only the bytes not scanned before (an incomplete head,
 * chunk-size line or trailer line resumes where the last call stopped), plus at
 * most 3 bytes of the head (a CRLFCRLF across the old end) or the 15 digits of a
 * chunk size again. A response trickled in n calls costs O(its bytes + n), not
 * O(bytes x n). Errors are reported at the offending byte, whatever the split.
 * Portable C99, no Python.h.
 */
#ifndef BF_HTTP_H
#define BF_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* Longest status line + headers accepted (and trailer section), and longest chunk-size
 * line (its bytes before CRLF). */
#define BF_HTTP_MAX_HEAD 65536u
#define BF_HTTP_MAX_CHUNK_LINE 4096u

/* The raw bytes of a chunked body in the stream -- chunk-size lines with their extensions,
 * chunk data and CRLFs, up to the end of the last-chunk line -- may be at most
 * 2 * max_body + BF_HTTP_CHUNKED_SLACK (the trailers have their own limit, BF_HTTP_MAX_HEAD).
 * max_body bounds the de-chunked size only; without this, 1-byte chunks with 4 KiB
 * extensions would have the connection buffer ~4 KiB per body byte (a 64 MiB limit letting
 * through ~256 GiB). Twice max_body lets the chunk framing be as large as the data it
 * frames: servers send a few bytes of framing per chunk of kilobytes ("1000\r\n" + 4096 +
 * "\r\n"), so no reply within max_body is refused for how it is chunked, while max_body +
 * a constant would refuse a large body sent in small chunks. The slack (a head's worth)
 * keeps a small max_body usable. A chunked reply buffered whole is then at most
 * BF_HTTP_MAX_HEAD + 2 * max_body + BF_HTTP_CHUNKED_SLACK + BF_HTTP_MAX_HEAD + 2 bytes. */
#define BF_HTTP_CHUNKED_SLACK BF_HTTP_MAX_HEAD

enum {
    BF_HTTP_ERROR = -1, /* malformed or over a limit: m->error says why, at m->error_at */
    BF_HTTP_MORE = 0,   /* incomplete: call again once the buffer holds m->need bytes */
    BF_HTTP_DONE = 1    /* one whole response: m->total bytes of the stream */
};

typedef struct {
    /* results */
    int status;          /* 100..999 */
    int minor;           /* HTTP/1.<minor>: 0 or 1 */
    int keep_alive;      /* 1: the connection may carry the next request */
    int chunked;         /* body in chunks: copy it out with bf_http_dechunk */
    int until_eof;       /* no length given: the body ends with the connection */
    size_t head_len;     /* status line + headers + blank line; 0 until parsed */
    size_t body_len;     /* body bytes (de-chunked size when chunked) */
    size_t total;        /* bytes the whole response takes in the stream (DONE) */
    size_t need;         /* MORE: buffer size to wait for before calling again */
    const char *error;   /* ERROR: a static description */
    size_t error_at;     /* ERROR: offset of the offending byte */
    /* state between calls (private) */
    int64_t content_length; /* -1: none */
    size_t chunk_pos;       /* next chunk-size line or trailer line (chunked) */
    size_t trailer_start;   /* first trailer line; 0 while in the chunks */
    /* Where the scan of an incomplete head, chunk-size line or trailer line goes on (0: from
     * its start), and what the scan before it saw: each byte is scanned once, however the
     * response is split. Offsets here are from the response's first byte, as buf[0] is. */
    size_t scan_pos;
    int scan_state;
} bf_http_msg;

/* Frame one response at buf[0..len). `eof`: the connection has ended (completes a
 * body without length; makes anything else incomplete an error). `max_body`:
 * larger bodies are an error, and chunked bodies over 2 * max_body +
 * BF_HTTP_CHUNKED_SLACK raw bytes. Returns BF_HTTP_DONE, BF_HTTP_MORE or BF_HTTP_ERROR. */
int bf_http_frame(const uint8_t *buf, size_t len, int eof, size_t max_body, bf_http_msg *m);

/* The body's first byte, for a framed response that is not chunked. */
size_t bf_http_body_offset(const bf_http_msg *m);

/* Copy the body of a framed (DONE) chunked response into out (m->body_len bytes). */
void bf_http_dechunk(const uint8_t *buf, const bf_http_msg *m, uint8_t *out);

#endif /* BF_HTTP_H */
