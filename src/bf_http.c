/* HTTP/1.1 response framing: see bf_http.h. Every index is checked against the
 * buffer's length before the byte is read. */
#include "bf_http.h"

#include <string.h>

#include "bf_scan.h"

/* Tests build with -DBF_HTTP_WORK=<a counter> to count the bytes the scans look at
 * (tests/fuzz/c/http_fuzz_main.c checks that it stays linear in the bytes given). */
#ifdef BF_HTTP_WORK
extern unsigned long long BF_HTTP_WORK;
#define WORK(n) (BF_HTTP_WORK += (unsigned long long)(n))
#else
#define WORK(n) ((void)(n))
#endif

static const char CHUNKED_OVER[] =
    "the reply's chunked body (with its chunk lines) is over the size limit";

static int fail(bf_http_msg *m, const char *why, size_t at)
{
    m->error = why;
    m->error_at = at;
    return BF_HTTP_ERROR;
}

/* RFC 9110 tchar. */
static int is_tchar(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return 1;
    default:
        return 0;
    }
}

/* A field value byte: VCHAR, obs-text, SP or HTAB (no CR, LF, NUL, DEL...). */
static int is_value(uint8_t c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

static int is_ows(uint8_t c) { return c == ' ' || c == '\t'; }

static uint8_t lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c; }

/* Case-insensitive: is b[0..n) the lower-case literal `lit`? */
static int same(const uint8_t *b, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    if (n != k)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower(b[i]) != (uint8_t)lit[i])
            return 0;
    return 1;
}

/* Offset just past the first CRLFCRLF in b[0..len) that starts at or after `from`, or 0. */
static size_t find_head_end(const uint8_t *b, size_t from, size_t len)
{
    for (size_t i = from; i + 3 < len; i++) {
        const uint8_t *cr = memchr(b + i, '\r', len - 3 - i);
        if (cr == NULL)
            break;
        i = (size_t)(cr - b);
        if (b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n') {
            WORK(i + 4 - from);
            return i + 4;
        }
    }
    WORK(len > from ? len - from : 0);
    return 0;
}

/* One header line at b[pos..end): name ':' OWS value OWS CRLF.
 * Returns 1 (parsed; *next is the next line), 0 (no CRLF before end), -1 (error). */
static int header_line(const uint8_t *b, size_t pos, size_t end, size_t *name_end,
                       size_t *vstart, size_t *vend, size_t *next, bf_http_msg *m)
{
    size_t i = pos;
    while (i < end && is_tchar(b[i]))
        i++;
    if (i == end)
        return 0;
    if (i == pos)
        return fail(m, is_ows(b[i]) ? "folded header line (obs-fold) in the reply"
                                    : "bad header name in the reply", i);
    if (b[i] != ':')
        return fail(m, "bad header name in the reply", i);
    *name_end = i;
    i++;
    while (i < end && is_ows(b[i]))
        i++;
    size_t vs = i;
    while (i < end && is_value(b[i]))
        i++;
    if (i == end)
        return 0;
    if (b[i] != '\r')
        return fail(m, "bad byte in a header value of the reply", i);
    if (i + 1 >= end)
        return 0;
    if (b[i + 1] != '\n')
        return fail(m, "header line not ended by CRLF in the reply", i + 1);
    size_t ve = i;
    while (ve > vs && is_ows(b[ve - 1]))
        ve--;
    *vstart = vs;
    *vend = ve;
    *next = i + 2;
    return 1;
}

/* Comma-separated list elements of b[s..e), OWS trimmed; calls back per element.
 * Returns the number of (non-empty) elements, or -1 when a callback fails. */
typedef int (*elem_fn)(const uint8_t *p, size_t n, bf_http_msg *m, int *flags, size_t at);

static int each_elem(const uint8_t *b, size_t s, size_t e, bf_http_msg *m, int *flags, elem_fn fn)
{
    size_t i = s;
    int n = 0;
    while (i <= e) {
        size_t j = i;
        while (j < e && b[j] != ',')
            j++;
        size_t a = i, z = j;
        while (a < z && is_ows(b[a]))
            a++;
        while (z > a && is_ows(b[z - 1]))
            z--;
        if (z > a) {
            if (fn(b + a, z - a, m, flags, a) < 0)
                return -1;
            n++;
        }
        i = j + 1;
    }
    return n;
}

enum { F_CLOSE = 1, F_KEEP = 2, F_CHUNKED = 4 };

static int connection_elem(const uint8_t *p, size_t n, bf_http_msg *m, int *flags, size_t at)
{
    (void)m;
    (void)at;
    if (same(p, n, "close"))
        *flags |= F_CLOSE;
    else if (same(p, n, "keep-alive"))
        *flags |= F_KEEP;
    return 0;
}

static int te_elem(const uint8_t *p, size_t n, bf_http_msg *m, int *flags, size_t at)
{
    if (!same(p, n, "chunked"))
        return fail(m, "unsupported Transfer-Encoding in the reply (only chunked)", at);
    if (*flags & F_CHUNKED)
        return fail(m, "Transfer-Encoding chunked given twice in the reply", at);
    *flags |= F_CHUNKED;
    return 0;
}

static int parse_head(const uint8_t *b, size_t end, size_t max_body, bf_http_msg *m)
{
    /* status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF */
    if (end < 14 || memcmp(b, "HTTP/1.", 7) != 0 || (b[7] != '0' && b[7] != '1') || b[8] != ' ')
        return fail(m, "the reply does not start with an HTTP/1.0 or HTTP/1.1 status line", 0);
    m->minor = b[7] - '0';
    if (!bf_is_digit(b[9]) || !bf_is_digit(b[10]) || !bf_is_digit(b[11]) || b[9] == '0')
        return fail(m, "bad status code in the reply", 9);
    m->status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
    size_t i = 12;
    if (b[i] == ' ') {
        i++;
        while (i < end && b[i] != '\r') {
            if (!is_value(b[i]))
                return fail(m, "bad byte in the status line of the reply", i);
            i++;
        }
    }
    if (i + 1 >= end || b[i] != '\r' || b[i + 1] != '\n')
        return fail(m, "status line not ended by CRLF in the reply", i);
    i += 2;

    int flags = 0;
    int64_t cl = -1;
    while (!(b[i] == '\r' && i + 1 < end && b[i + 1] == '\n')) {
        size_t ne, vs, ve, next;
        int r = header_line(b, i, end, &ne, &vs, &ve, &next, m);
        if (r < 0)
            return r;
        if (r == 0)
            return fail(m, "truncated header line in the reply", i);
        size_t nn = ne - i;
        if (same(b + i, nn, "content-length")) {
            if (ve == vs || ve - vs > 18)
                return fail(m, "bad Content-Length in the reply", vs);
            int64_t v = 0;
            for (size_t k = vs; k < ve; k++) {
                if (!bf_is_digit(b[k]))
                    return fail(m, "bad Content-Length in the reply", k);
                v = v * 10 + (b[k] - '0');
            }
            if (cl >= 0 && cl != v)
                return fail(m, "conflicting Content-Length headers in the reply", vs);
            cl = v;
        } else if (same(b + i, nn, "transfer-encoding")) {
            int n = each_elem(b, vs, ve, m, &flags, te_elem);
            if (n < 0)
                return -1;
            if (n == 0) /* a Transfer-Encoding that names no coding: not "no coding" */
                return fail(m, "empty Transfer-Encoding in the reply", vs);
        } else if (same(b + i, nn, "connection")) {
            each_elem(b, vs, ve, m, &flags, connection_elem);
        } else if (same(b + i, nn, "content-encoding")) {
            if (!(ve == vs || same(b + vs, ve - vs, "identity")))
                return fail(m, "compressed reply (Content-Encoding) is not supported", vs);
        }
        i = next;
        if (i >= end)
            return fail(m, "truncated head in the reply", i);
    }
    if (i + 2 != end)
        return fail(m, "head of the reply ends early", i);

    if ((flags & F_CHUNKED) && cl >= 0)
        return fail(m, "the reply has both Content-Length and Transfer-Encoding", 0);
    if (m->status == 101)
        return fail(m, "unexpected 101 Switching Protocols in the reply", 9);
    m->keep_alive = m->minor == 1 ? !(flags & F_CLOSE) : ((flags & F_KEEP) && !(flags & F_CLOSE));
    m->content_length = -1;
    if (m->status < 200 || m->status == 204 || m->status == 304) {
        m->content_length = 0; /* no body, whatever the headers say */
    } else if (flags & F_CHUNKED) {
        m->chunked = 1;
        m->chunk_pos = end;
    } else if (cl >= 0) {
        if ((uint64_t)cl > (uint64_t)max_body)
            return fail(m, "the reply's Content-Length is over the size limit", 0);
        m->content_length = cl;
    } else {
        m->until_eof = 1;
        m->keep_alive = 0;
    }
    return 0;
}

static int more(bf_http_msg *m, size_t need, int eof, size_t len, const char *where)
{
    if (eof)
        return fail(m, where, len);
    m->need = need;
    return BF_HTTP_MORE;
}

/* A chunk-size line at b[start..len): hex digits, whitespace, then ';' and chunk extensions
 * (ignored), CRLF; at most BF_HTTP_MAX_CHUNK_LINE bytes before the CRLF.
 * An incomplete line is not read again from its start: the next call resumes at m->scan_pos
 * (m->scan_state: a ';' was before it), so each byte is looked at once, but for the at most 15
 * digits, read again on each call to rebuild the size.
 * 1: parsed (*size, *next); 0: incomplete; -1: error. */
static int chunk_line(const uint8_t *b, size_t start, size_t len, size_t max_body,
                      uint64_t *size, size_t *next, bf_http_msg *m)
{
    size_t i = start;
    uint64_t v = 0;
    int nd = 0;
    while (i < len && bf_hex_value(b[i]) >= 0) {
        v = v * 16 + (uint64_t)bf_hex_value(b[i]);
        if (++nd > 15 || v > (uint64_t)max_body)
            return fail(m, "chunk size over the size limit in the reply", i);
        i++;
    }
    if (i < len && nd == 0)
        return fail(m, "bad chunk size in the reply", i);
    int ext = 0;
    if (m->scan_pos > i && m->scan_pos <= len) { /* checked by an earlier call */
        i = m->scan_pos;
        ext = m->scan_state;
    }
    size_t from = i;
    while (i < len && b[i] != '\r') { /* whitespace, then ';' and chunk extensions */
        if (!is_value(b[i]) || (!ext && b[i] != ';' && !is_ows(b[i])))
            return fail(m, "bad chunk size line in the reply", i);
        if (i - start >= BF_HTTP_MAX_CHUNK_LINE)
            return fail(m, "chunk size line too long in the reply", i);
        ext |= b[i] == ';';
        i++;
    }
    WORK((size_t)nd + (i - from));
    m->scan_pos = i; /* also when complete: a call waiting for the chunk's data reads 15 bytes */
    m->scan_state = ext;
    if (i + 1 >= len)
        return 0;
    if (b[i + 1] != '\n')
        return fail(m, "chunk size line not ended by CRLF in the reply", i + 1);
    *size = v;
    *next = i + 2;
    return 1;
}

/* A trailer line at b[pos..len): checked as a header line (name ':' value CRLF, the same
 * errors as header_line), its content ignored; no byte at or past trailer_start +
 * BF_HTTP_MAX_HEAD. Resumable like chunk_line: m->scan_pos is where the next call goes on,
 * m->scan_state which part of the line it is in.
 * 1: parsed (*next); 0: incomplete; -1: error. */
enum { T_NAME = 0, T_VALUE, T_LF };

static int trailer_line(const uint8_t *b, size_t pos, size_t len, size_t *next, bf_http_msg *m)
{
    size_t i = pos;
    int part = T_NAME;
    if (m->scan_pos > pos && m->scan_pos <= len) { /* checked by an earlier call */
        i = m->scan_pos;
        part = m->scan_state;
    }
    size_t from = i;
    for (; i < len; i++) {
        uint8_t c = b[i];
        if (i - m->trailer_start >= BF_HTTP_MAX_HEAD)
            return fail(m, "the reply's trailers are over 64 KiB", i);
        if (part == T_NAME) {
            if (is_tchar(c))
                continue;
            if (i == pos)
                return fail(m, is_ows(c) ? "folded header line (obs-fold) in the reply"
                                         : "bad header name in the reply", i);
            if (c != ':')
                return fail(m, "bad header name in the reply", i);
            part = T_VALUE;
        } else if (part == T_VALUE) {
            if (is_value(c))
                continue;
            if (c != '\r')
                return fail(m, "bad byte in a header value of the reply", i);
            part = T_LF;
        } else {
            if (c != '\n')
                return fail(m, "header line not ended by CRLF in the reply", i);
            WORK(i + 1 - from);
            *next = i + 1;
            return 1;
        }
    }
    WORK(i - from);
    m->scan_pos = i;
    m->scan_state = part;
    return 0;
}

/* One past the last byte the chunks of a body after `head` may take: see
 * BF_HTTP_CHUNKED_SLACK (SIZE_MAX when the limit is beyond any buffer). */
static size_t chunked_raw_end(size_t head, size_t max_body)
{
    size_t room = SIZE_MAX - head - BF_HTTP_CHUNKED_SLACK; /* head <= BF_HTTP_MAX_HEAD */
    return max_body > room / 2 ? SIZE_MAX : head + 2 * max_body + BF_HTTP_CHUNKED_SLACK;
}

int bf_http_frame(const uint8_t *buf, size_t len, int eof, size_t max_body, bf_http_msg *m)
{
    if (m->head_len == 0) {
        /* an incomplete head is searched again from where the last search stopped (the
         * 3 bytes before its end may start the CRLFCRLF) */
        size_t lim = len < BF_HTTP_MAX_HEAD ? len : BF_HTTP_MAX_HEAD;
        size_t from = m->scan_pos <= lim ? m->scan_pos : 0;
        size_t end = find_head_end(buf, from, lim);
        if (end == 0) {
            size_t k = len < 7 ? len : 7;
            if (memcmp(buf, "HTTP/1.", k) != 0)
                return fail(m, "the reply does not start with an HTTP/1.0 or HTTP/1.1 status line", 0);
            if (len >= BF_HTTP_MAX_HEAD)
                return fail(m, "the reply's head is over 64 KiB", lim);
            m->scan_pos = lim > 3 ? lim - 3 : 0;
            return more(m, len + 1, eof, len, "the connection closed inside the reply's head");
        }
        if (parse_head(buf, end, max_body, m) < 0)
            return BF_HTTP_ERROR;
        m->head_len = end;
        m->scan_pos = 0;
    }
    size_t head = m->head_len;
    if (m->content_length >= 0) {
        size_t total = head + (size_t)m->content_length;
        if (len < total)
            return more(m, total, eof, len, "the connection closed inside the reply's body");
        m->body_len = (size_t)m->content_length;
        m->total = total;
        return BF_HTTP_DONE;
    }
    if (m->until_eof) {
        size_t body = len - head;
        if (body > max_body) /* at the first byte over the limit, however the bytes came */
            return fail(m, "the reply's body is over the size limit", head + max_body);
        if (!eof) {
            m->need = len + 1;
            return BF_HTTP_MORE;
        }
        m->body_len = body;
        m->total = len;
        return BF_HTTP_DONE;
    }
    /* chunked: resume at the next chunk (or trailer) line; the chunks end before raw_end */
    size_t raw_end = chunked_raw_end(head, max_body);
    size_t pos = m->chunk_pos;
    for (;;) {
        if (m->trailer_start == 0) {
            uint64_t size;
            size_t next;
            size_t lim = len < raw_end ? len : raw_end;
            int r = chunk_line(buf, pos, lim, max_body, &size, &next, m);
            if (r < 0)
                return r;
            if (r == 0) {
                if (lim < len) /* the line goes on past the limit: refused at that byte */
                    return fail(m, CHUNKED_OVER, lim);
                return more(m, len + 1, eof, len, "the connection closed inside a chunked reply");
            }
            if (size == 0) {
                m->trailer_start = next;
                pos = m->chunk_pos = next;
                m->scan_pos = 0;
                continue;
            }
            if (size > max_body - m->body_len)
                return fail(m, "the reply's body is over the size limit", pos);
            if (raw_end - next < 2 || size > raw_end - next - 2) /* next <= raw_end */
                return fail(m, CHUNKED_OVER, pos);
            size_t data_end = next + (size_t)size;
            if (len < data_end + 2)
                return more(m, data_end + 2, eof, len, "the connection closed inside a chunked reply");
            if (buf[data_end] != '\r' || buf[data_end + 1] != '\n')
                return fail(m, "chunk data not followed by CRLF in the reply", data_end);
            m->body_len += (size_t)size;
            pos = m->chunk_pos = data_end + 2;
            m->scan_pos = 0;
        } else {
            if (len - pos < 2)
                return more(m, pos + 2, eof, len, "the connection closed inside a chunked reply");
            if (buf[pos] == '\r') {
                if (buf[pos + 1] != '\n')
                    return fail(m, "trailer section not ended by CRLF in the reply", pos + 1);
                m->total = pos + 2;
                return BF_HTTP_DONE;
            }
            size_t next;
            int r = trailer_line(buf, pos, len, &next, m);
            if (r < 0)
                return r;
            if (r == 0)
                return more(m, len + 1, eof, len, "the connection closed inside a chunked reply");
            pos = m->chunk_pos = next;
            m->scan_pos = 0;
        }
    }
}

size_t bf_http_body_offset(const bf_http_msg *m) { return m->head_len; }

void bf_http_dechunk(const uint8_t *buf, const bf_http_msg *m, uint8_t *out)
{
    /* the framer validated every chunk line up to m->trailer_start: walk them again */
    size_t pos = m->head_len, w = 0;
    while (pos < m->trailer_start) {
        uint64_t size = 0;
        while (bf_hex_value(buf[pos]) >= 0)
            size = size * 16 + (uint64_t)bf_hex_value(buf[pos++]);
        while (buf[pos] != '\n')
            pos++;
        pos++;
        if (size == 0)
            break;
        if (w + size > m->body_len)
            break; /* cannot happen after a DONE frame; never write past out */
        memcpy(out + w, buf + pos, (size_t)size);
        w += (size_t)size;
        pos += (size_t)size + 2;
    }
}
