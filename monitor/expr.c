/*
 * The rule expression language (docs/rules.md has the grammar and the
 * semantics).
 *
 * A hand-written lexer and a recursive-descent parser compile the text once,
 * at configuration load, into a flat array of nodes: children are indices,
 * literals are stored in base units (seconds, volts, ...), every metric
 * reference is interned once in a table of inputs the daemon indexes rules
 * by.  Types and units are checked while compiling wherever both sides are
 * known; where a side is a metric, whose unit the store only knows at run
 * time, the check happens during evaluation and a mismatch makes the result
 * unknown with the reason.
 *
 * Evaluation walks the nodes recursively (depth is capped at compile time),
 * allocates nothing and asks the resolver for samples, history, members of
 * selections and other rules' states.  "Unknown" carries a borrowed reason
 * and propagates like SQL NULL, except that && and || use Kleene logic:
 * false && unknown is false, true || unknown is true.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"

#define EXPR_MAX_NODES 1024
#define EXPR_MAX_DEPTH 64
#define EXPR_MAX_TEXT  4096
#define EXPR_HIST_MAX  256 /* history points one rate() or changed_within() reads */
#define NELEM(a)       (sizeof(a) / sizeof((a)[0]))

enum op {
	OP_NUM,
	OP_BOOL,
	OP_TEXT,
	OP_REF,
	OP_NEG,
	OP_NOT,
	OP_ADD,
	OP_SUB,
	OP_MUL,
	OP_DIV,
	OP_LT,
	OP_LE,
	OP_GT,
	OP_GE,
	OP_EQ,
	OP_NE,
	OP_AND,
	OP_OR,
	OP_ANY,
	OP_ALL,
	OP_COUNT,
	OP_MIN,
	OP_MAX,
	OP_AVG,
	OP_RATE,
	OP_CHANGED,
	OP_STALE,
	OP_ACTIVE,
	OP_HAS,
};

/* Static types and units: what is known while compiling. */
#define T_DYN  (-1) /* known at run time only */
#define EU_DYN (-1)

struct node {
	uint8_t op;
	int8_t type; /* enum expr_type or T_DYN */
	int8_t unit; /* enum expr_unit or EU_DYN */
	int a, b;    /* children, or ref / select / text / rule index */
	double num;  /* literal value; durations in ms */
};

struct expr {
	char *text;
	struct node *nodes;
	size_t nnodes;
	int root;
	struct expr_ref *refs;
	size_t nrefs;
	struct expr_select *sels;
	size_t nsels;
	char **texts;
	size_t ntexts;
	char **rules;
	size_t nrules;
	int uses_time;
};

/* Lexer tokens. */
enum tok {
	TK_END,
	TK_NUM,
	TK_STR,
	TK_NAME,
	TK_LPAREN,
	TK_RPAREN,
	TK_COMMA,
	TK_PLUS,
	TK_MINUS,
	TK_STAR,
	TK_SLASH,
	TK_NOT,
	TK_AND,
	TK_OR,
	TK_LT,
	TK_LE,
	TK_GT,
	TK_GE,
	TK_EQ,
	TK_NE,
	TK_ASSIGN,
	TK_PERCENT,
	TK_BAD,
};

struct token {
	enum tok t;
	size_t start, end; /* byte offsets into the text */
	double num;
	char *str; /* TK_STR: the unescaped string (owned by the parser until taken) */
};

struct parser {
	struct expr *e;
	const char *s;
	size_t len;
	struct token tok;
	const char *file;
	unsigned int line, col;
	const char *label;
	char *err;
	size_t errlen;
	int failed;
	int agg_sel; /* the enclosing aggregate's select index, or -1 */
};

static const struct {
	const char *name;
	enum expr_unit unit;
	double scale;
} literal_units[] = {
	{ "ms", EU_TIME, 0.001 },
	{ "s", EU_TIME, 1 },
	{ "min", EU_TIME, 60 },
	{ "h", EU_TIME, 3600 },
	{ "d", EU_TIME, 86400 },
	{ "%", EU_PCT, 1 },
	{ "degC", EU_TEMP, 1 },
	{ "V", EU_VOLT, 1 },
};

static const char *const unit_names[] = { "none", "s", "%", "degC", "V", "other" };
static const char *const type_names[] = { "unknown", "number", "true/false", "text" };

/* The name of a unit dimension: "s", "%", "degC", "V", "none" or "other". */
const char *
expr_unit_name(enum expr_unit u)
{
	return (size_t)u < NELEM(unit_names) ? unit_names[u] : "?";
}

/* "unknown", "number", "true/false" or "text". */
const char *
expr_type_name(enum expr_type t)
{
	return (size_t)t < NELEM(type_names) ? type_names[t] : "?";
}

/*
 * The dimension of a store unit, and the factor that turns its values into
 * the base unit ("ms" -> seconds x 0.001).  NULL or "" is a bare number; a
 * unit the language has no literal for is EU_OTHER.
 */
enum expr_unit
expr_unit_from_name(const char *name, double *scale)
{
	static const struct {
		const char *name;
		enum expr_unit unit;
		double scale;
	} store_units[] = {
		{ "pct", EU_PCT, 1 },
		{ "percent", EU_PCT, 1 },
		{ "sec", EU_TIME, 1 },
		{ "seconds", EU_TIME, 1 },
		{ "\xc2\xb0"
		  "C",
		    EU_TEMP, 1 },
		{ "C", EU_TEMP, 1 },
	};
	size_t i;

	*scale = 1;
	if (name == NULL || *name == '\0')
		return EU_NONE;
	for (i = 0; i < NELEM(literal_units); i++)
		if (strcmp(name, literal_units[i].name) == 0) {
			*scale = literal_units[i].scale;
			return literal_units[i].unit;
		}
	for (i = 0; i < NELEM(store_units); i++)
		if (strcmp(name, store_units[i].name) == 0) {
			*scale = store_units[i].scale;
			return store_units[i].unit;
		}
	return EU_OTHER;
}

/* Two units that may be compared or added: equal, or one a bare number. */
static int
units_agree(int a, int b)
{
	return a == b || a == EU_NONE || b == EU_NONE;
}

/*
 * Errors.  Positions are counted in characters (UTF-8 sequences) from where
 * the caller says the text starts; a newline in the text starts column 1.
 */
static void PRINTFLIKE(3, 4) perr(struct parser *p, size_t off, const char *fmt, ...)
{
	unsigned int line = p->line, col = p->col;
	char msg[256];
	va_list ap;
	size_t i;

	if (p->failed)
		return;
	p->failed = 1;
	for (i = 0; i < off && i < p->len; i++) {
		if (p->s[i] == '\n') {
			line++;
			col = 1;
		} else if (((unsigned char)p->s[i] & 0xc0) != 0x80)
			col++;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "%s:%u:%u: %s%s%s", p->file != NULL ? p->file : "-",
	    line, col, p->label != NULL ? p->label : "", p->label != NULL ? ": " : "",
	    msg);
}

/* Printable slice s[from..to), quotes and controls replaced, at most max chars. */
static void
excerpt(
    const struct parser *p, size_t from, size_t to, size_t max, char *out, size_t outlen)
{
	size_t o = 0, i;

	while (to > from && isspace((unsigned char)p->s[to - 1]))
		to--;
	while (from < to && isspace((unsigned char)p->s[from]))
		from++;
	if (to - from > max) {
		/* Keep the end, it is next to the error; start on a character. */
		from = to - max;
		while (from < to && ((unsigned char)p->s[from] & 0xc0) == 0x80)
			from++;
		o = (size_t)snprintf(out, outlen, "...");
	}
	for (i = from; i < to && o + 1 < outlen; i++) {
		unsigned char c = (unsigned char)p->s[i];
		out[o++] = c < 0x20 || c == 0x7f || c == '"' ? '\'' : (char)c;
	}
	out[o < outlen ? o : outlen - 1] = '\0';
	if (!utf8_valid(out, strlen(out)))
		snprintf(out, outlen, "...");
}

/* "expected X after "CTX"" at the end, else "expected X, found "TOK"". */
static void
expected(struct parser *p, const char *what)
{
	char ctx[64];

	if (p->tok.t == TK_END) {
		excerpt(p, 0, p->len, 40, ctx, sizeof(ctx));
		if (ctx[0] == '\0')
			perr(p, p->tok.start, "expected %s", what);
		else
			perr(p, p->tok.start, "expected %s after \"%s\"", what, ctx);
		return;
	}
	excerpt(p, p->tok.start, p->tok.end, 24, ctx, sizeof(ctx));
	perr(p, p->tok.start, "expected %s, found \"%s\"", what, ctx);
}

/* The lexer. */
static int
name_start(int c)
{
	return isalpha(c) || c == '_';
}

/* Names hold '-' (device names do): "ups-1.charge_pct", so minus needs spaces. */
static int
name_char(int c)
{
	return isalnum(c) || c == '_' || c == '-';
}

static void
lex(struct parser *p)
{
	const char *s = p->s;
	size_t i = p->tok.end;
	struct token *t = &p->tok;

	free(t->str);
	t->str = NULL;
	while (i < p->len && isspace((unsigned char)s[i]))
		i++;
	t->start = i;
	if (i >= p->len) {
		t->t = TK_END;
		t->end = i;
		return;
	}
	if (isdigit((unsigned char)s[i]) ||
	    (s[i] == '.' && i + 1 < p->len && isdigit((unsigned char)s[i + 1]))) {
		/* digits [. digits] [e [+-] digits]: no hex, no inf, no nan. */
		char buf[64];
		size_t j = i;
		while (j < p->len && isdigit((unsigned char)s[j]))
			j++;
		if (j < p->len && s[j] == '.')
			for (j++; j < p->len && isdigit((unsigned char)s[j]); j++)
				;
		if (j + 1 < p->len && (s[j] == 'e' || s[j] == 'E')) {
			size_t k = j + 1;
			if (k < p->len && (s[k] == '+' || s[k] == '-'))
				k++;
			if (k < p->len && isdigit((unsigned char)s[k])) {
				while (k < p->len && isdigit((unsigned char)s[k]))
					k++;
				j = k;
			}
		}
		t->end = j;
		if (j - i >= sizeof(buf)) {
			t->t = TK_BAD;
			return;
		}
		memcpy(buf, s + i, j - i);
		buf[j - i] = '\0';
		t->num = strtod(buf, NULL);
		t->t = isfinite(t->num) ? TK_NUM : TK_BAD;
		return;
	}
	if (name_start((unsigned char)s[i])) {
		while (i < p->len && name_char((unsigned char)s[i]))
			i++;
		t->t = TK_NAME;
		t->end = i;
		return;
	}
	if (s[i] == '"') {
		char *out = xmalloc(p->len - i);
		size_t o = 0;
		for (i++; i < p->len && s[i] != '"'; i++) {
			if ((unsigned char)s[i] < 0x20)
				break;
			if (s[i] == '\\') {
				if (i + 1 >= p->len ||
				    (s[i + 1] != '"' && s[i + 1] != '\\'))
					break;
				i++;
			}
			out[o++] = s[i];
		}
		out[o] = '\0';
		if (i >= p->len || s[i] != '"') {
			free(out);
			t->t = TK_BAD;
			t->end = i < p->len ? i + 1 : i;
			return;
		}
		t->str = out;
		t->t = TK_STR;
		t->end = i + 1;
		return;
	}
	t->end = i + 1;
	switch (s[i]) {
	case '(':
		t->t = TK_LPAREN;
		return;
	case ')':
		t->t = TK_RPAREN;
		return;
	case ',':
		t->t = TK_COMMA;
		return;
	case '+':
		t->t = TK_PLUS;
		return;
	case '-':
		t->t = TK_MINUS;
		return;
	case '*':
		t->t = TK_STAR;
		return;
	case '/':
		t->t = TK_SLASH;
		return;
	case '%':
		t->t = TK_PERCENT;
		return;
	}
	if (i + 1 < p->len) {
		char two[3] = { s[i], s[i + 1], '\0' };
		static const struct {
			const char *s;
			enum tok t;
		} twos[] = { { "&&", TK_AND }, { "||", TK_OR }, { "<=", TK_LE },
			{ ">=", TK_GE }, { "==", TK_EQ }, { "!=", TK_NE } };
		size_t k;
		for (k = 0; k < NELEM(twos); k++)
			if (strcmp(two, twos[k].s) == 0) {
				t->t = twos[k].t;
				t->end = i + 2;
				return;
			}
	}
	switch (s[i]) {
	case '!':
		t->t = TK_NOT;
		return;
	case '<':
		t->t = TK_LT;
		return;
	case '>':
		t->t = TK_GT;
		return;
	case '=':
		t->t = TK_ASSIGN;
		return;
	}
	/* One whole UTF-8 character in the message, not half of one. */
	while (t->end < p->len && ((unsigned char)s[t->end] & 0xc0) == 0x80)
		t->end++;
	t->t = TK_BAD;
}

static int
tok_is(const struct parser *p, const char *name)
{
	size_t n = strlen(name);

	return p->tok.t == TK_NAME && p->tok.end - p->tok.start == n &&
	       strncmp(p->s + p->tok.start, name, n) == 0;
}

/* Complain about a bad token, or say what was expected. */
static void
bad_token(struct parser *p, const char *what)
{
	char ctx[64];

	if (p->tok.t == TK_BAD) {
		excerpt(p, p->tok.start, p->tok.end, 24, ctx, sizeof(ctx));
		if (p->s[p->tok.start] == '"')
			perr(p, p->tok.start, "unterminated string");
		else if (isdigit((unsigned char)p->s[p->tok.start]) ||
		         p->s[p->tok.start] == '.')
			perr(p, p->tok.start, "bad number \"%s\"", ctx);
		else
			perr(p, p->tok.start, "unexpected \"%s\"", ctx);
		return;
	}
	expected(p, what);
}

static int
expect(struct parser *p, enum tok t, const char *what)
{
	if (p->tok.t != t) {
		bad_token(p, what);
		return -1;
	}
	lex(p);
	return 0;
}

/* Building nodes. */
static int
node_new(
    struct parser *p, size_t at, enum op op, int type, int unit, int a, int b, double num)
{
	struct expr *e = p->e;
	struct node *n;

	if (p->failed)
		return -1;
	if (e->nnodes >= EXPR_MAX_NODES) {
		perr(p, at, "expression too long (more than %d terms)", EXPR_MAX_NODES);
		return -1;
	}
	if ((e->nnodes & (e->nnodes - 1)) == 0 || e->nnodes == 0)
		e->nodes = xreallocarray(
		    e->nodes, e->nnodes == 0 ? 8 : e->nnodes * 2, sizeof(*e->nodes));
	n = &e->nodes[e->nnodes];
	n->op = (uint8_t)op;
	n->type = (int8_t)type;
	n->unit = (int8_t)unit;
	n->a = a;
	n->b = b;
	n->num = num;
	return (int)e->nnodes++;
}

static int
intern_text(struct expr *e, char *s)
{
	size_t i;

	for (i = 0; i < e->ntexts; i++)
		if (strcmp(e->texts[i], s) == 0) {
			free(s);
			return (int)i;
		}
	e->texts = xreallocarray(e->texts, e->ntexts + 1, sizeof(*e->texts));
	e->texts[e->ntexts] = s;
	return (int)e->ntexts++;
}

/*
 * Intern a reference; dev NULL is relative to the select sel.  The select
 * pointers are fixed up when compiling ends (the array may still move).
 */
static int
intern_ref(struct expr *e, const char *dev, size_t devlen, const char *metric,
    size_t mlen, int sel)
{
	struct expr_ref *r;
	char *key;
	size_t i;

	if (dev != NULL)
		xasprintf(&key, "%.*s.%.*s", (int)devlen, dev, (int)mlen, metric);
	else
		key = xstrndup(metric, mlen);
	for (i = 0; i < e->nrefs; i++)
		if (strcmp(e->refs[i].key, key) == 0 &&
		    (intptr_t)e->refs[i].select == (intptr_t)(dev != NULL ? -1 : sel)) {
			free(key);
			return (int)i;
		}
	e->refs = xreallocarray(e->refs, e->nrefs + 1, sizeof(*e->refs));
	r = &e->refs[e->nrefs];
	memset(r, 0, sizeof(*r));
	r->key = key;
	if (dev != NULL) {
		r->device = xstrndup(dev, devlen);
		r->metric = xstrdup(key + devlen + 1);
	} else
		r->metric = xstrdup(key);
	/* Until fix-up: the select index, -1 for absolute references. */
	r->select = (const struct expr_select *)(intptr_t)(dev != NULL ? -1 : sel);
	return (int)e->nrefs++;
}

static int parse_or(struct parser *, int);

/* A metric reference: device.metric, or a bare metric inside an aggregate. */
static int
parse_ref(struct parser *p, int must)
{
	size_t start = p->tok.start, dend = p->tok.end, mend;
	int r;

	if (p->tok.t != TK_NAME) {
		if (must)
			bad_token(p, "a metric such as ups1.on_battery");
		return -1;
	}
	if (dend < p->len && p->s[dend] == '.') {
		/* Metric names may start with a digit ("ups1.1st_alarm"). */
		for (mend = dend + 1;
		     mend < p->len && name_char((unsigned char)p->s[mend]); mend++)
			;
		if (mend == dend + 1) {
			perr(p, dend + 1, "expected a metric name after \"%.*s.\"",
			    (int)(dend - start > 40 ? 40 : dend - start), p->s + start);
			return -1;
		}
		r = intern_ref(p->e, p->s + start, dend - start, p->s + dend + 1,
		    mend - dend - 1, -1);
		p->tok.end = mend;
	} else {
		if (p->agg_sel < 0) {
			perr(p, start,
			    "\"%.*s\": name the device (device.%.*s), or use it inside "
			    "an aggregate such as any(kind=ups, %.*s)",
			    (int)(dend - start > 40 ? 40 : dend - start), p->s + start,
			    (int)(dend - start > 40 ? 40 : dend - start), p->s + start,
			    (int)(dend - start > 40 ? 40 : dend - start), p->s + start);
			return -1;
		}
		r = intern_ref(p->e, NULL, 0, p->s + start, dend - start, p->agg_sel);
	}
	lex(p);
	return node_new(p, start, OP_REF, T_DYN, EU_DYN, r, -1, 0);
}

#define EXPR_DURATION_MAX_S (366.0 * 86400)

/* A constant duration argument, in milliseconds. */
static int
parse_duration(struct parser *p, const char *fn, double *ms)
{
	size_t at = p->tok.start;
	int n = parse_or(p, 1);

	if (n < 0)
		return -1;
	if (p->e->nodes[n].op != OP_NUM || p->e->nodes[n].unit != EU_TIME ||
	    p->e->nodes[n].num < 0) {
		perr(p, at,
		    "%s(): the duration must be a number with a time unit, "
		    "such as 5min",
		    fn);
		return -1;
	}
	/* Longer than any history kept; and the window must fit a time stamp. */
	if (!(p->e->nodes[n].num <= EXPR_DURATION_MAX_S)) {
		perr(p, at, "%s(): the duration is longer than 366d", fn);
		return -1;
	}
	*ms = p->e->nodes[n].num * 1000;
	/* The literal's node is not referred to: drop it, it was the last. */
	p->e->nnodes = (size_t)n;
	return 0;
}

static const char *const sel_keys[] = { "kind", "tag", "role", "availability" };

static int
sel_key_at(const struct parser *p)
{
	size_t k;

	for (k = 0; k < NELEM(sel_keys); k++)
		if (tok_is(p, sel_keys[k]))
			return (int)k;
	return -1;
}

/* Is the token a selector key followed by = (or, for availability, a comparison)? */
static int
at_selector(struct parser *p)
{
	struct token save = p->tok;
	int k = sel_key_at(p), yes;

	if (k < 0)
		return 0;
	p->tok.str = NULL;
	lex(p);
	yes = p->tok.t == TK_ASSIGN ||
	      (k == ES_AVAILABILITY &&
	          (p->tok.t == TK_NE || p->tok.t == TK_LT || p->tok.t == TK_LE ||
	              p->tok.t == TK_GT || p->tok.t == TK_GE));
	free(p->tok.str);
	p->tok = save;
	return yes;
}

/* One selector term: kind=ups, tag=server-room, role=wan, availability>=2. */
static int
parse_sel_term(struct parser *p, struct expr_sel_term *t)
{
	size_t at;
	int k = sel_key_at(p);

	memset(t, 0, sizeof(*t));
	t->key = (enum expr_sel_key)k;
	lex(p);
	switch (p->tok.t) {
	case TK_ASSIGN:
		t->op = ES_EQ;
		break;
	case TK_NE:
		t->op = ES_NE;
		break;
	case TK_LT:
		t->op = ES_LT;
		break;
	case TK_LE:
		t->op = ES_LE;
		break;
	case TK_GT:
		t->op = ES_GT;
		break;
	default:
		t->op = ES_GE;
		break;
	}
	lex(p);
	at = p->tok.start;
	if (t->key == ES_AVAILABILITY) {
		if (p->tok.t != TK_NUM || p->tok.num != floor(p->tok.num) ||
		    p->tok.num < 1 || p->tok.num > 3) {
			perr(p, at, "availability is a class from 1 to 3");
			return -1;
		}
		t->num = (int)p->tok.num;
		lex(p);
		return 0;
	}
	if (p->tok.t == TK_STR) {
		t->value = p->tok.str;
		p->tok.str = NULL;
	} else if (p->tok.t == TK_NAME)
		t->value = xstrndup(p->s + at, p->tok.end - at);
	else {
		bad_token(p, "a name after '='");
		return -1;
	}
	lex(p);
	if (t->key == ES_KIND) {
		size_t i;
		for (i = 0; device_kinds[i] != NULL; i++)
			if (strcmp(device_kinds[i], t->value) == 0)
				break;
		if (device_kinds[i] == NULL) {
			char list[128] = "";
			size_t o = 0;
			for (i = 0; device_kinds[i] != NULL && o < sizeof(list); i++)
				o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
				    i > 0 ? ", " : "", device_kinds[i]);
			perr(p, at, "no device kind \"%.40s\" (%s)", t->value, list);
			return -1;
		}
	}
	return 0;
}

static const char *const sel_ops[] = { "=", "!=", "<", "<=", ">", ">=" };

/* Intern the selector made of terms (taking them); returns its index. */
static int
intern_select(struct expr *e, struct expr_sel_term *terms, size_t n)
{
	struct expr_select *sel;
	char *text = xstrdup(""), *t;
	size_t i;

	for (i = 0; i < n; i++) {
		char num[16];
		snprintf(num, sizeof(num), "%d", terms[i].num);
		xasprintf(&t, "%s%s%s%s%s", text, i > 0 ? "," : "",
		    sel_keys[terms[i].key], sel_ops[terms[i].op],
		    terms[i].key == ES_AVAILABILITY ? num : terms[i].value);
		free(text);
		text = t;
	}
	for (i = 0; i < e->nsels; i++)
		if (strcmp(e->sels[i].text, text) == 0) {
			size_t k;
			free(text);
			for (k = 0; k < n; k++)
				free(terms[k].value);
			free(terms);
			return (int)i;
		}
	e->sels = xreallocarray(e->sels, e->nsels + 1, sizeof(*e->sels));
	sel = &e->sels[e->nsels];
	memset(sel, 0, sizeof(*sel));
	sel->terms = terms;
	sel->nterms = n;
	sel->text = text;
	return (int)e->nsels++;
}

static const struct {
	const char *name;
	enum op op;
} aggregates[] = {
	{ "any", OP_ANY },
	{ "all", OP_ALL },
	{ "count", OP_COUNT },
	{ "min", OP_MIN },
	{ "max", OP_MAX },
	{ "avg", OP_AVG },
};

/* agg "(" selector { "," selector } "," expr ")" */
static int
parse_aggregate(struct parser *p, enum op op, const char *fn)
{
	struct expr_sel_term *terms = NULL;
	size_t nterms = 0, at = p->tok.start, i;
	int sel, body, outer = p->agg_sel, type, unit;
	struct node *b;

	lex(p);
	if (expect(p, TK_LPAREN, "'('") == -1)
		return -1;
	while (at_selector(p)) {
		terms = xreallocarray(terms, nterms + 1, sizeof(*terms));
		if (parse_sel_term(p, &terms[nterms]) == -1) {
			free(terms[nterms].value);
			goto bad;
		}
		nterms++;
		if (expect(p, TK_COMMA, "','") == -1)
			goto bad;
	}
	if (nterms == 0) {
		perr(p, p->tok.start,
		    "%s() needs devices first, such as %s(kind=ups, on_battery)", fn, fn);
		goto bad;
	}
	sel = intern_select(p->e, terms, nterms);
	terms = NULL;
	nterms = 0;
	p->agg_sel = sel;
	body = parse_or(p, 1);
	p->agg_sel = outer;
	if (body < 0 || expect(p, TK_RPAREN, "')'") == -1)
		return -1;
	b = &p->e->nodes[body];
	if (op == OP_ANY || op == OP_ALL || op == OP_COUNT) {
		if (b->type != T_DYN && b->type != EXPR_BOOL) {
			perr(p, at, "%s(): the condition is %s, not true/false", fn,
			    expr_type_name((enum expr_type)b->type));
			return -1;
		}
		type = op == OP_COUNT ? EXPR_NUMBER : EXPR_BOOL;
		unit = EU_NONE;
	} else {
		if (b->type != T_DYN && b->type != EXPR_NUMBER) {
			perr(p, at, "%s(): the value is %s, not a number", fn,
			    expr_type_name((enum expr_type)b->type));
			return -1;
		}
		type = EXPR_NUMBER;
		unit = b->unit;
	}
	return node_new(p, at, op, type, unit, sel, body, 0);
bad:
	for (i = 0; i < nterms; i++)
		free(terms[i].value);
	free(terms);
	return -1;
}

/* name "(" args ")" for the functions that are not aggregates. */
static int
parse_call(struct parser *p)
{
	size_t at = p->tok.start, i;
	char fn[24];
	int n = -1, ref;
	double ms = 0;

	snprintf(fn, sizeof(fn), "%.*s", (int)(p->tok.end - at), p->s + at);
	for (i = 0; i < NELEM(aggregates); i++)
		if (strcmp(fn, aggregates[i].name) == 0)
			return parse_aggregate(p, aggregates[i].op, fn);
	if (strcmp(fn, "rate") != 0 && strcmp(fn, "changed_within") != 0 &&
	    strcmp(fn, "stale") != 0 && strcmp(fn, "active") != 0 &&
	    strcmp(fn, "has") != 0) {
		perr(p, at,
		    "unknown function \"%.40s\" (any, all, count, min, max, avg, rate, "
		    "changed_within, stale, active, has)",
		    fn);
		return -1;
	}
	lex(p);
	if (expect(p, TK_LPAREN, "'('") == -1)
		return -1;
	if (strcmp(fn, "active") == 0) {
		char *name;
		if (p->tok.t != TK_STR) {
			bad_token(p, "a rule name in quotes");
			return -1;
		}
		name = p->tok.str;
		p->tok.str = NULL;
		for (i = 0; i < p->e->nrules; i++)
			if (strcmp(p->e->rules[i], name) == 0)
				break;
		if (i == p->e->nrules) {
			p->e->rules = xreallocarray(
			    p->e->rules, p->e->nrules + 1, sizeof(*p->e->rules));
			p->e->rules[p->e->nrules++] = name;
		} else
			free(name);
		lex(p);
		if (expect(p, TK_RPAREN, "')'") == -1)
			return -1;
		return node_new(p, at, OP_ACTIVE, EXPR_BOOL, EU_NONE, (int)i, -1, 0);
	}
	if (strcmp(fn, "has") == 0) {
		int x = parse_or(p, 1), word;
		if (x < 0 || expect(p, TK_COMMA, "','") == -1)
			return -1;
		if (p->e->nodes[x].type != T_DYN && p->e->nodes[x].type != EXPR_TEXT) {
			perr(p, at, "has(): the first argument is %s, not text",
			    expr_type_name((enum expr_type)p->e->nodes[x].type));
			return -1;
		}
		if (p->tok.t != TK_STR) {
			bad_token(p, "a word in quotes");
			return -1;
		}
		word = intern_text(p->e, p->tok.str);
		p->tok.str = NULL;
		lex(p);
		if (expect(p, TK_RPAREN, "')'") == -1)
			return -1;
		return node_new(p, at, OP_HAS, EXPR_BOOL, EU_NONE, x, word, 0);
	}
	if ((ref = parse_ref(p, 1)) < 0)
		return -1;
	ref = p->e->nodes[ref].a;
	p->e->nnodes--; /* keep the reference, not its node */
	if (strcmp(fn, "rate") == 0) {
		if (p->tok.t == TK_COMMA) {
			lex(p);
			if (parse_duration(p, fn, &ms) == -1)
				return -1;
			if (ms <= 0) {
				perr(p, at, "rate(): the window must be longer than 0");
				return -1;
			}
			p->e->uses_time = 1;
		}
		n = node_new(p, at, OP_RATE, EXPR_NUMBER, EU_OTHER, ref, -1, ms);
	} else if (strcmp(fn, "changed_within") == 0) {
		if (expect(p, TK_COMMA, "',' and a duration") == -1 ||
		    parse_duration(p, fn, &ms) == -1)
			return -1;
		p->e->uses_time = 1;
		n = node_new(p, at, OP_CHANGED, EXPR_BOOL, EU_NONE, ref, -1, ms);
	} else {
		if (p->tok.t == TK_COMMA) {
			lex(p);
			if (parse_duration(p, fn, &ms) == -1)
				return -1;
			p->e->uses_time = 1;
		}
		n = node_new(p, at, OP_STALE, EXPR_BOOL, EU_NONE, ref, -1, ms);
	}
	if (expect(p, TK_RPAREN, "')'") == -1)
		return -1;
	return n;
}

/* primary: number [unit] | string | true | false | ref | call | "(" expr ")" */
static int
parse_primary(struct parser *p, int depth)
{
	size_t at = p->tok.start;
	int n;

	if (depth > EXPR_MAX_DEPTH) {
		perr(p, at, "nested too deeply (more than %d levels)", EXPR_MAX_DEPTH);
		return -1;
	}
	switch (p->tok.t) {
	case TK_NUM: {
		double v = p->tok.num, scale = 1;
		int unit = EU_NONE;
		size_t i;
		lex(p);
		if (p->tok.t == TK_PERCENT) {
			unit = EU_PCT;
			lex(p);
		} else if (p->tok.t == TK_NAME) {
			for (i = 0; i < NELEM(literal_units); i++)
				if (tok_is(p, literal_units[i].name))
					break;
			if (i == NELEM(literal_units)) {
				char ctx[64];
				excerpt(
				    p, p->tok.start, p->tok.end, 24, ctx, sizeof(ctx));
				perr(p, p->tok.start,
				    "unknown unit \"%s\" (ms, s, min, h, d, %%, degC, V)",
				    ctx);
				return -1;
			}
			unit = literal_units[i].unit;
			scale = literal_units[i].scale;
			lex(p);
		}
		return node_new(p, at, OP_NUM, EXPR_NUMBER, unit, -1, -1, v * scale);
	}
	case TK_STR:
		n = intern_text(p->e, p->tok.str);
		p->tok.str = NULL;
		lex(p);
		return node_new(p, at, OP_TEXT, EXPR_TEXT, EU_NONE, n, -1, 0);
	case TK_LPAREN:
		lex(p);
		n = parse_or(p, depth + 1);
		if (n < 0 || expect(p, TK_RPAREN, "')'") == -1)
			return -1;
		return n;
	case TK_NAME:
		if (tok_is(p, "true") || tok_is(p, "false")) {
			int v = tok_is(p, "true");
			lex(p);
			return node_new(p, at, OP_BOOL, EXPR_BOOL, EU_NONE, -1, -1, v);
		}
		if (p->tok.end < p->len && p->s[p->tok.end] == '(')
			return parse_call(p);
		{
			/* "f (" with a space is a call too, not a metric. */
			struct token save = p->tok;
			int call;
			p->tok.str = NULL;
			lex(p);
			call = p->tok.t == TK_LPAREN && save.end < p->len &&
			       p->s[save.end] != '.';
			free(p->tok.str);
			p->tok = save;
			if (call)
				return parse_call(p);
		}
		return parse_ref(p, 1);
	default:
		bad_token(p, "a value");
		return -1;
	}
}

static int
parse_unary(struct parser *p, int depth)
{
	size_t at = p->tok.start;
	int x;

	if (depth > EXPR_MAX_DEPTH) {
		perr(p, at, "nested too deeply (more than %d levels)", EXPR_MAX_DEPTH);
		return -1;
	}
	if (p->tok.t == TK_MINUS) {
		lex(p);
		if ((x = parse_unary(p, depth + 1)) < 0)
			return -1;
		if (p->e->nodes[x].type != T_DYN && p->e->nodes[x].type != EXPR_NUMBER) {
			perr(p, at, "'-' needs a number, not %s",
			    expr_type_name((enum expr_type)p->e->nodes[x].type));
			return -1;
		}
		if (p->e->nodes[x].op == OP_NUM) {
			p->e->nodes[x].num = -p->e->nodes[x].num;
			return x;
		}
		return node_new(
		    p, at, OP_NEG, EXPR_NUMBER, p->e->nodes[x].unit, x, -1, 0);
	}
	if (p->tok.t == TK_NOT) {
		lex(p);
		if ((x = parse_unary(p, depth + 1)) < 0)
			return -1;
		if (p->e->nodes[x].type != T_DYN && p->e->nodes[x].type != EXPR_BOOL) {
			perr(p, at, "'!' needs true/false, not %s",
			    expr_type_name((enum expr_type)p->e->nodes[x].type));
			return -1;
		}
		return node_new(p, at, OP_NOT, EXPR_BOOL, EU_NONE, x, -1, 0);
	}
	return parse_primary(p, depth);
}

/*
 * A binary node with its static checks.  Operands of known type and unit are
 * checked here; the others are checked again on every evaluation.
 */
static int
binary(struct parser *p, size_t at, const char *opname, enum op op, int l, int r)
{
	const struct node *a, *b;
	int type, unit = EU_NONE;

	if (l < 0 || r < 0)
		return -1;
	a = &p->e->nodes[l];
	b = &p->e->nodes[r];
	switch (op) {
	case OP_AND:
	case OP_OR:
		if ((a->type != T_DYN && a->type != EXPR_BOOL) ||
		    (b->type != T_DYN && b->type != EXPR_BOOL)) {
			perr(p, at, "'%s' needs true/false on both sides, not %s", opname,
			    expr_type_name((enum expr_type)(
			        a->type != T_DYN && a->type != EXPR_BOOL ? a->type
			                                                 : b->type)));
			return -1;
		}
		type = EXPR_BOOL;
		break;
	case OP_EQ:
	case OP_NE:
		if (a->type != T_DYN && b->type != T_DYN && a->type != b->type) {
			perr(p, at, "'%s' compares %s with %s", opname,
			    expr_type_name((enum expr_type)a->type),
			    expr_type_name((enum expr_type)b->type));
			return -1;
		}
		type = EXPR_BOOL;
		goto units;
	default:
		if ((a->type != T_DYN && a->type != EXPR_NUMBER) ||
		    (b->type != T_DYN && b->type != EXPR_NUMBER)) {
			perr(p, at, "'%s' needs numbers, not %s", opname,
			    expr_type_name((enum expr_type)(
			        a->type != T_DYN && a->type != EXPR_NUMBER ? a->type
			                                                   : b->type)));
			return -1;
		}
		type = op >= OP_LT ? EXPR_BOOL : EXPR_NUMBER;
	units:
		if (a->unit == EU_DYN || b->unit == EU_DYN) {
			/* Checked at run time; a comparison's result has no unit. */
			unit = EU_DYN;
			break;
		}
		if (op == OP_MUL) {
			if (a->unit != EU_NONE && b->unit != EU_NONE) {
				perr(p, at, "'*' of two quantities with units (%s, %s)",
				    expr_unit_name((enum expr_unit)a->unit),
				    expr_unit_name((enum expr_unit)b->unit));
				return -1;
			}
			unit = a->unit == EU_NONE ? b->unit : a->unit;
		} else if (op == OP_DIV) {
			if (b->unit != EU_NONE && a->unit != b->unit) {
				perr(p, at, "'/' of %s by %s",
				    expr_unit_name((enum expr_unit)a->unit),
				    expr_unit_name((enum expr_unit)b->unit));
				return -1;
			}
			unit = b->unit == EU_NONE ? a->unit : EU_NONE;
		} else if (!units_agree(a->unit, b->unit) ||
		           (a->unit == EU_OTHER && b->unit != EU_NONE) ||
		           (b->unit == EU_OTHER && a->unit != EU_NONE)) {
			perr(p, at, "'%s' of %s and %s: the units do not match", opname,
			    expr_unit_name((enum expr_unit)a->unit),
			    expr_unit_name((enum expr_unit)b->unit));
			return -1;
		} else if (op == OP_ADD || op == OP_SUB)
			unit = a->unit == EU_NONE ? b->unit : a->unit;
		break;
	}
	return node_new(p, at, op, type, type == EXPR_BOOL ? EU_NONE : unit, l, r, 0);
}

static int
parse_product(struct parser *p, int depth)
{
	int l = parse_unary(p, depth);

	while (l >= 0 && (p->tok.t == TK_STAR || p->tok.t == TK_SLASH)) {
		size_t at = p->tok.start;
		int mul = p->tok.t == TK_STAR;
		lex(p);
		l = binary(p, at, mul ? "*" : "/", mul ? OP_MUL : OP_DIV, l,
		    parse_unary(p, depth));
	}
	return l;
}

static int
parse_sum(struct parser *p, int depth)
{
	int l = parse_product(p, depth);

	while (l >= 0 && (p->tok.t == TK_PLUS || p->tok.t == TK_MINUS)) {
		size_t at = p->tok.start;
		int add = p->tok.t == TK_PLUS;
		lex(p);
		l = binary(p, at, add ? "+" : "-", add ? OP_ADD : OP_SUB, l,
		    parse_product(p, depth));
	}
	return l;
}

static int
parse_cmp(struct parser *p, int depth)
{
	static const struct {
		enum tok t;
		enum op op;
		const char *name;
	} cmps[] = { { TK_LT, OP_LT, "<" }, { TK_LE, OP_LE, "<=" }, { TK_GT, OP_GT, ">" },
		{ TK_GE, OP_GE, ">=" }, { TK_EQ, OP_EQ, "==" }, { TK_NE, OP_NE, "!=" } };
	int l = parse_sum(p, depth);
	size_t i;

	if (l < 0)
		return -1;
	if (p->tok.t == TK_ASSIGN) {
		perr(p, p->tok.start, "'=' is not a comparison: use '=='");
		return -1;
	}
	for (i = 0; i < NELEM(cmps); i++)
		if (p->tok.t == cmps[i].t) {
			size_t at = p->tok.start;
			lex(p);
			l = binary(
			    p, at, cmps[i].name, cmps[i].op, l, parse_sum(p, depth));
			/* a < b < c reads as (a < b) < c in C: refuse it instead. */
			for (i = 0; l >= 0 && i < NELEM(cmps); i++)
				if (p->tok.t == cmps[i].t) {
					perr(p, p->tok.start,
					    "comparisons do not chain: use && between "
					    "them");
					return -1;
				}
			return l;
		}
	return l;
}

static int
parse_and(struct parser *p, int depth)
{
	int l = parse_cmp(p, depth);

	while (l >= 0 && p->tok.t == TK_AND) {
		size_t at = p->tok.start;
		lex(p);
		l = binary(p, at, "&&", OP_AND, l, parse_cmp(p, depth));
	}
	return l;
}

static int
parse_or(struct parser *p, int depth)
{
	int l;

	if (depth > EXPR_MAX_DEPTH) {
		perr(p, p->tok.start, "nested too deeply (more than %d levels)",
		    EXPR_MAX_DEPTH);
		return -1;
	}
	l = parse_and(p, depth);
	while (l >= 0 && p->tok.t == TK_OR) {
		size_t at = p->tok.start;
		lex(p);
		l = binary(p, at, "||", OP_OR, l, parse_and(p, depth));
	}
	return l;
}

/* Depth of the tree under n, to bound the evaluator's recursion. */
static int
tree_depth(const struct expr *e, int n, int limit)
{
	const struct node *x = &e->nodes[n];
	int d = 0, c;

	if (limit <= 0)
		return 1;
	switch (x->op) {
	case OP_NEG:
	case OP_NOT:
	case OP_HAS:
		d = tree_depth(e, x->a, limit - 1);
		break;
	case OP_ADD:
	case OP_SUB:
	case OP_MUL:
	case OP_DIV:
	case OP_LT:
	case OP_LE:
	case OP_GT:
	case OP_GE:
	case OP_EQ:
	case OP_NE:
	case OP_AND:
	case OP_OR:
		d = tree_depth(e, x->a, limit - 1);
		c = tree_depth(e, x->b, limit - 1);
		d = c > d ? c : d;
		break;
	case OP_ANY:
	case OP_ALL:
	case OP_COUNT:
	case OP_MIN:
	case OP_MAX:
	case OP_AVG:
		d = tree_depth(e, x->b, limit - 1);
		break;
	default:
		break;
	}
	return d + 1;
}

/*
 * Compile text into an expression, or return NULL with err set to
 * "FILE:LINE:COL: LABEL: reason".  line and col say where the text starts in
 * file (col counts from 1); label (the config key, "when") may be NULL.  The
 * expression must be a condition (true/false).
 */
struct expr *
expr_compile(const char *text, const char *file, unsigned int line, unsigned int col,
    const char *label, char *err, size_t errlen)
{
	struct parser p;
	struct expr *e = xcalloc(1, sizeof(*e));
	size_t i;

	memset(&p, 0, sizeof(p));
	p.e = e;
	p.s = text;
	p.len = strlen(text);
	p.file = file;
	p.line = line;
	p.col = col;
	p.label = label;
	p.err = err;
	p.errlen = errlen;
	p.agg_sel = -1;
	e->text = xstrdup(text);
	if (errlen > 0)
		err[0] = '\0';
	if (p.len > EXPR_MAX_TEXT) {
		perr(&p, 0, "expression longer than %d bytes", EXPR_MAX_TEXT);
		goto bad;
	}
	if (!utf8_valid(text, p.len)) {
		perr(&p, 0, "not valid UTF-8");
		goto bad;
	}
	lex(&p);
	if (p.tok.t == TK_END) {
		perr(&p, 0, "empty expression");
		goto bad;
	}
	e->root = parse_or(&p, 0);
	if (e->root >= 0 && p.tok.t != TK_END) {
		if (p.tok.t == TK_BAD)
			bad_token(&p, "");
		else
			expected(&p, "an operator or the end");
	}
	if (p.failed)
		goto bad;
	if (tree_depth(e, e->root, EXPR_MAX_DEPTH * 2) > EXPR_MAX_DEPTH * 2) {
		perr(&p, 0, "expression too deep (more than %d operations in a chain)",
		    EXPR_MAX_DEPTH * 2);
		goto bad;
	}
	if (e->nodes[e->root].type != T_DYN && e->nodes[e->root].type != EXPR_BOOL) {
		perr(&p, 0, "this is %s, not a condition (true/false)",
		    expr_type_name((enum expr_type)e->nodes[e->root].type));
		goto bad;
	}
	/* The selects no longer move: point relative references at them. */
	for (i = 0; i < e->nrefs; i++) {
		intptr_t s = (intptr_t)e->refs[i].select;
		e->refs[i].select = s < 0 ? NULL : &e->sels[s];
	}
	free(p.tok.str);
	return e;
bad:
	free(p.tok.str);
	for (i = 0; i < e->nrefs; i++)
		e->refs[i].select = NULL;
	expr_free(e);
	return NULL;
}

/* Free a compiled expression.  Takes NULL. */
void
expr_free(struct expr *e)
{
	size_t i, k;

	if (e == NULL)
		return;
	for (i = 0; i < e->nrefs; i++) {
		free(e->refs[i].device);
		free(e->refs[i].metric);
		free(e->refs[i].key);
	}
	for (i = 0; i < e->nsels; i++) {
		for (k = 0; k < e->sels[i].nterms; k++)
			free(e->sels[i].terms[k].value);
		free(e->sels[i].terms);
		free(e->sels[i].text);
	}
	for (i = 0; i < e->ntexts; i++)
		free(e->texts[i]);
	for (i = 0; i < e->nrules; i++)
		free(e->rules[i]);
	free(e->refs);
	free(e->sels);
	free(e->texts);
	free(e->rules);
	free(e->nodes);
	free(e->text);
	free(e);
}

/* The text it was compiled from. */
const char *
expr_text(const struct expr *e)
{
	return e->text;
}

/* Inputs: the metrics it reads (each once), for the metric -> rules index. */
size_t
expr_nrefs(const struct expr *e)
{
	return e->nrefs;
}

/* Reference i (0 .. expr_nrefs() - 1). */
const struct expr_ref *
expr_ref(const struct expr *e, size_t i)
{
	return i < e->nrefs ? &e->refs[i] : NULL;
}

/* Attach the caller's cache (a series) to reference i; the resolver sees it. */
void
expr_ref_bind(struct expr *e, size_t i, void *bound)
{
	if (i < e->nrefs)
		e->refs[i].bound = bound;
}

/* The device selections its aggregates range over (each once). */
size_t
expr_nselects(const struct expr *e)
{
	return e->nsels;
}

/* Selection i (0 .. expr_nselects() - 1). */
const struct expr_select *
expr_select(const struct expr *e, size_t i)
{
	return i < e->nsels ? &e->sels[i] : NULL;
}

/* Attach the caller's cache (the member list) to selection i. */
void
expr_select_bind(struct expr *e, size_t i, void *bound)
{
	if (i < e->nsels)
		e->sels[i].bound = bound;
}

/* The rules it refers to with active(). */
size_t
expr_nrules(const struct expr *e)
{
	return e->nrules;
}

/* Rule name i (0 .. expr_nrules() - 1). */
const char *
expr_rule(const struct expr *e, size_t i)
{
	return i < e->nrules ? e->rules[i] : NULL;
}

/*
 * Whether its value can change with time alone (stale() with an age,
 * changed_within(), rate() with a window): such expressions are evaluated
 * again on the housekeeping tick, the others only when an input changes.
 */
int
expr_uses_time(const struct expr *e)
{
	return e->uses_time;
}

static int
cmp_int(int a, enum expr_sel_op op, int b)
{
	switch (op) {
	case ES_EQ:
		return a == b;
	case ES_NE:
		return a != b;
	case ES_LT:
		return a < b;
	case ES_LE:
		return a <= b;
	case ES_GT:
		return a > b;
	default:
		return a >= b;
	}
}

/*
 * Whether a device (kind name, availability class, tags) or one of its links
 * (role not NULL) is in the selection.  A selection with a role term holds
 * links only; one without holds devices only.
 */
int
expr_select_match(const struct expr_select *sel, const char *kind, int availability,
    const char *const *tags, size_t ntags, const char *role)
{
	size_t i, k;
	int has_role = 0;

	for (i = 0; i < sel->nterms; i++) {
		const struct expr_sel_term *t = &sel->terms[i];
		switch (t->key) {
		case ES_KIND:
			if (kind == NULL || strcmp(kind, t->value) != 0)
				return 0;
			break;
		case ES_TAG:
			for (k = 0; k < ntags; k++)
				if (strcmp(tags[k], t->value) == 0)
					break;
			if (k == ntags)
				return 0;
			break;
		case ES_ROLE:
			has_role = 1;
			if (role == NULL || strcmp(role, t->value) != 0)
				return 0;
			break;
		case ES_AVAILABILITY:
			if (!cmp_int(availability, t->op, t->num))
				return 0;
			break;
		}
	}
	return has_role == (role != NULL);
}

/* Evaluation. */
struct ectx {
	const struct expr *e;
	const struct expr_resolver *r;
};

static void
set_unknown(struct expr_value *v, const char *reason, const char *dev, const char *metric)
{
	v->type = EXPR_UNKNOWN;
	v->unit = EU_NONE;
	v->num = 0;
	v->text = NULL;
	v->reason = reason;
	v->dev = dev;
	v->metric = metric;
}

static void
set_bool(struct expr_value *v, int b)
{
	v->type = EXPR_BOOL;
	v->unit = EU_NONE;
	v->num = b ? 1 : 0;
	v->text = NULL;
	v->reason = NULL;
	v->dev = v->metric = NULL;
}

static void
set_num(struct expr_value *v, double num, enum expr_unit unit)
{
	v->type = EXPR_NUMBER;
	v->unit = unit;
	v->num = num;
	v->text = NULL;
	v->reason = NULL;
	v->dev = v->metric = NULL;
}

/* The device a reference reads from, for unknown's "where". */
static const char *
ref_dev(const struct expr_ref *ref, const struct expr_member *m)
{
	return ref->device != NULL ? ref->device : m != NULL ? m->device : NULL;
}

/* The latest sample of ref; 0, or -1 with v unknown. */
static int
lookup(const struct ectx *c, const struct expr_ref *ref, const struct expr_member *m,
    struct expr_sample *smp, struct expr_value *v)
{
	memset(smp, 0, sizeof(*smp));
	if (c->r->lookup == NULL || c->r->lookup(c->r->arg, ref, m, smp) == -1 ||
	    smp->type == EXPR_UNKNOWN) {
		set_unknown(v, smp->reason != NULL ? smp->reason : "no such metric",
		    ref_dev(ref, m), ref->metric);
		return -1;
	}
	return 0;
}

static void eval(
    const struct ectx *, int, const struct expr_member *, struct expr_value *);

static void
eval_ref(const struct ectx *c, const struct expr_ref *ref, const struct expr_member *m,
    struct expr_value *v)
{
	struct expr_sample smp;

	if (lookup(c, ref, m, &smp, v) == -1)
		return;
	if (smp.q != Q_OK) {
		set_unknown(v,
		    smp.reason != NULL ? smp.reason
		    : smp.q == Q_STALE ? "stale"
		                       : "error",
		    ref_dev(ref, m), ref->metric);
		return;
	}
	v->type = smp.type;
	v->unit = smp.type == EXPR_NUMBER ? smp.unit : EU_NONE;
	v->num = smp.type == EXPR_BOOL ? (smp.num != 0) : smp.num;
	v->text = smp.type == EXPR_TEXT ? (smp.text != NULL ? smp.text : "") : NULL;
	v->reason = NULL;
	v->dev = v->metric = NULL;
	if (smp.type == EXPR_NUMBER && !isfinite(smp.num))
		set_unknown(v, "not a finite number", ref_dev(ref, m), ref->metric);
}

/* Does the space-separated list of words hold word? */
static int
has_word(const char *list, const char *word)
{
	size_t wl = strlen(word), n;
	const char *s = list;

	if (wl == 0)
		return 0;
	for (n = word_next(&s); n > 0; s += n, n = word_next(&s))
		if (n == wl && strncmp(s, word, n) == 0)
			return 1;
	return 0;
}

static void
eval_history(const struct ectx *c, const struct node *x, const struct expr_member *m,
    struct expr_value *v)
{
	const struct expr_ref *ref = &c->e->refs[x->a];
	struct hist_point pts[EXPR_HIST_MAX];
	struct expr_sample smp;
	int64_t since;
	size_t n, i;

	if (lookup(c, ref, m, &smp, v) == -1)
		return;
	if (smp.q != Q_OK) {
		/* Old points say nothing about now. */
		eval_ref(c, ref, m, v);
		return;
	}
	if (smp.type == EXPR_TEXT) {
		set_unknown(
		    v, "text metrics keep no history", ref_dev(ref, m), ref->metric);
		return;
	}
	if (c->r->history == NULL) {
		set_unknown(v, "no history", ref_dev(ref, m), ref->metric);
		return;
	}
	since =
	    x->op == OP_RATE && x->num == 0 ? INT64_MIN : c->r->now_ms - (int64_t)x->num;
	n = c->r->history(c->r->arg, ref, m, since, pts, NELEM(pts));
	if (n > NELEM(pts))
		n = NELEM(pts);
	if (x->op == OP_CHANGED) {
		/* A change is two neighbours that differ, the newer inside the window. */
		for (i = 1; i < n; i++)
			if (pts[i].t_ms >= since && pts[i].v != pts[i - 1].v) {
				set_bool(v, 1);
				return;
			}
		if (n == 0 || (n == 1 && pts[0].t_ms >= since)) {
			/* Nothing to compare with: cannot say it did not change. */
			set_unknown(
			    v, "not enough history", ref_dev(ref, m), ref->metric);
			return;
		}
		set_bool(v, 0);
		return;
	}
	/* rate(): over the window, or between the last two points. */
	if (x->num == 0)
		i = n >= 2 ? n - 2 : 0;
	else
		for (i = 0; i < n && pts[i].t_ms < since; i++)
			;
	if (n < 2 || i + 1 >= n || pts[n - 1].t_ms <= pts[i].t_ms) {
		set_unknown(
		    v, "not enough history for a rate", ref_dev(ref, m), ref->metric);
		return;
	}
	set_num(v,
	    (pts[n - 1].v - pts[i].v) * 1000.0 / (double)(pts[n - 1].t_ms - pts[i].t_ms),
	    EU_OTHER);
}

static void
eval_stale(const struct ectx *c, const struct node *x, const struct expr_member *m,
    struct expr_value *v)
{
	const struct expr_ref *ref = &c->e->refs[x->a];
	struct expr_sample smp;

	/* Never unknown: "no data" is exactly what stale() asks about. */
	if (lookup(c, ref, m, &smp, v) == -1 || smp.q != Q_OK) {
		set_bool(v, 1);
		return;
	}
	set_bool(v, x->num > 0 && c->r->now_ms - smp.t_ms > (int64_t)x->num);
}

static void
eval_aggregate(const struct ectx *c, const struct node *x, struct expr_value *v)
{
	const struct expr_select *sel = &c->e->sels[x->a];
	struct expr_member mem;
	struct expr_value b, unknown;
	double acc = 0;
	size_t i, count = 0;
	int have_unknown = 0, unit = -1;

	memset(&unknown, 0, sizeof(unknown));
	for (i = 0; c->r->member != NULL && c->r->member(c->r->arg, sel, i, &mem); i++) {
		eval(c, x->b, &mem, &b);
		if (b.type == EXPR_UNKNOWN) {
			if (!have_unknown)
				unknown = b;
			have_unknown = 1;
			continue;
		}
		if (x->op == OP_ANY || x->op == OP_ALL || x->op == OP_COUNT) {
			if (b.type != EXPR_BOOL) {
				if (!have_unknown)
					set_unknown(
					    &unknown, "not true/false", mem.device, NULL);
				have_unknown = 1;
				continue;
			}
			if (x->op == OP_ANY && b.num != 0) {
				set_bool(v, 1);
				return;
			}
			if (x->op == OP_ALL && b.num == 0) {
				set_bool(v, 0);
				return;
			}
			count += b.num != 0;
			continue;
		}
		if (b.type != EXPR_NUMBER) {
			if (!have_unknown)
				set_unknown(&unknown, "not a number", mem.device, NULL);
			have_unknown = 1;
			continue;
		}
		if (unit >= 0 && !units_agree(unit, b.unit)) {
			if (!have_unknown)
				set_unknown(&unknown, "members have different units",
				    mem.device, NULL);
			have_unknown = 1;
			continue;
		}
		if (unit < 0 || unit == EU_NONE)
			unit = b.unit;
		if (count == 0)
			acc = b.num;
		else if (x->op == OP_MIN)
			acc = b.num < acc ? b.num : acc;
		else if (x->op == OP_MAX)
			acc = b.num > acc ? b.num : acc;
		else
			acc += b.num;
		count++;
	}
	/* Kleene: any() and all() were decided above if they could be. */
	if (have_unknown) {
		*v = unknown;
		return;
	}
	switch (x->op) {
	case OP_ANY:
		set_bool(v, 0);
		break;
	case OP_ALL:
		set_bool(v, 1);
		break;
	case OP_COUNT:
		set_num(v, (double)count, EU_NONE);
		break;
	default:
		if (count == 0)
			set_unknown(v, "no device matches", NULL, NULL);
		else
			set_num(v, x->op == OP_AVG ? acc / (double)count : acc,
			    (enum expr_unit)unit);
		break;
	}
}

static int
want(struct expr_value *v, const struct expr_value *a, enum expr_type t, const char *why)
{
	if (a->type == EXPR_UNKNOWN) {
		*v = *a;
		return -1;
	}
	if (a->type != t) {
		set_unknown(v, why, NULL, NULL);
		return -1;
	}
	return 0;
}

static void
eval_binary(const struct ectx *c, const struct node *x, const struct expr_member *m,
    struct expr_value *v)
{
	struct expr_value a, b;

	eval(c, x->a, m, &a);
	if (x->op == OP_AND || x->op == OP_OR) {
		int stop = x->op == OP_OR; /* the value that decides alone */
		if (a.type == EXPR_BOOL && (a.num != 0) == stop) {
			set_bool(v, stop);
			return;
		}
		if (a.type != EXPR_BOOL && a.type != EXPR_UNKNOWN)
			set_unknown(&a, "not true/false", NULL, NULL);
		eval(c, x->b, m, &b);
		if (b.type != EXPR_BOOL && b.type != EXPR_UNKNOWN)
			set_unknown(&b, "not true/false", NULL, NULL);
		if (b.type == EXPR_BOOL && (b.num != 0) == stop)
			set_bool(v, stop);
		else if (a.type == EXPR_UNKNOWN)
			*v = a;
		else
			*v = b;
		return;
	}
	if (a.type == EXPR_UNKNOWN) {
		*v = a;
		return;
	}
	eval(c, x->b, m, &b);
	if (b.type == EXPR_UNKNOWN) {
		*v = b;
		return;
	}
	if (x->op == OP_EQ || x->op == OP_NE) {
		int eq;
		if (a.type != b.type) {
			set_unknown(v, "compares values of different types", NULL, NULL);
			return;
		}
		if (a.type == EXPR_TEXT)
			eq = strcmp(a.text, b.text) == 0;
		else if (a.type == EXPR_NUMBER && !units_agree(a.unit, b.unit)) {
			set_unknown(v, "the units do not match", NULL, NULL);
			return;
		} else
			eq = a.num == b.num;
		set_bool(v, x->op == OP_EQ ? eq : !eq);
		return;
	}
	if (want(v, &a, EXPR_NUMBER, "not a number") == -1 ||
	    want(v, &b, EXPR_NUMBER, "not a number") == -1)
		return;
	switch (x->op) {
	case OP_MUL:
		if (a.unit != EU_NONE && b.unit != EU_NONE) {
			set_unknown(v, "'*' of two quantities with units", NULL, NULL);
			return;
		}
		set_num(v, a.num * b.num, a.unit == EU_NONE ? b.unit : a.unit);
		return;
	case OP_DIV:
		if (b.unit != EU_NONE && a.unit != b.unit) {
			set_unknown(v, "'/' by a different unit", NULL, NULL);
			return;
		}
		if (b.num == 0) {
			set_unknown(v, "division by zero", NULL, NULL);
			return;
		}
		set_num(v, a.num / b.num, b.unit == EU_NONE ? a.unit : EU_NONE);
		return;
	default:
		break;
	}
	if (!units_agree(a.unit, b.unit)) {
		set_unknown(v, "the units do not match", NULL, NULL);
		return;
	}
	switch (x->op) {
	case OP_ADD:
		set_num(v, a.num + b.num, a.unit == EU_NONE ? b.unit : a.unit);
		break;
	case OP_SUB:
		set_num(v, a.num - b.num, a.unit == EU_NONE ? b.unit : a.unit);
		break;
	case OP_LT:
		set_bool(v, a.num < b.num);
		break;
	case OP_LE:
		set_bool(v, a.num <= b.num);
		break;
	case OP_GT:
		set_bool(v, a.num > b.num);
		break;
	default:
		set_bool(v, a.num >= b.num);
		break;
	}
	if (v->type == EXPR_NUMBER && !isfinite(v->num))
		set_unknown(v, "the result is not a finite number", NULL, NULL);
}

static void
eval(const struct ectx *c, int n, const struct expr_member *m, struct expr_value *v)
{
	const struct node *x = &c->e->nodes[n];
	struct expr_value a;
	int act;

	switch ((enum op)x->op) {
	case OP_NUM:
		set_num(v, x->num, (enum expr_unit)x->unit);
		return;
	case OP_BOOL:
		set_bool(v, x->num != 0);
		return;
	case OP_TEXT:
		memset(v, 0, sizeof(*v));
		v->type = EXPR_TEXT;
		v->text = c->e->texts[x->a];
		return;
	case OP_REF:
		eval_ref(c, &c->e->refs[x->a], m, v);
		return;
	case OP_NEG:
		eval(c, x->a, m, &a);
		if (want(v, &a, EXPR_NUMBER, "not a number") == 0)
			set_num(v, -a.num, a.unit);
		return;
	case OP_NOT:
		eval(c, x->a, m, &a);
		if (want(v, &a, EXPR_BOOL, "not true/false") == 0)
			set_bool(v, a.num == 0);
		return;
	case OP_ANY:
	case OP_ALL:
	case OP_COUNT:
	case OP_MIN:
	case OP_MAX:
	case OP_AVG:
		eval_aggregate(c, x, v);
		return;
	case OP_RATE:
	case OP_CHANGED:
		eval_history(c, x, m, v);
		return;
	case OP_STALE:
		eval_stale(c, x, m, v);
		return;
	case OP_ACTIVE:
		act = c->r->active != NULL ? c->r->active(c->r->arg, c->e->rules[x->a])
		                           : -1;
		if (act < 0)
			set_unknown(v, "rule not evaluated yet", NULL, c->e->rules[x->a]);
		else
			set_bool(v, act);
		return;
	case OP_HAS:
		eval(c, x->a, m, &a);
		if (want(v, &a, EXPR_TEXT, "not text") == 0)
			set_bool(v, has_word(a.text, c->e->texts[x->b]));
		return;
	default:
		eval_binary(c, x, m, v);
		return;
	}
}

/*
 * Evaluate e through the resolver r into v: a condition (EXPR_BOOL) or
 * EXPR_UNKNOWN with the reason; the strings in v are borrowed from e and
 * from the resolver.  Returns 1 true, 0 false, -1 unknown.
 */
int
expr_eval(const struct expr *e, const struct expr_resolver *r, struct expr_value *v)
{
	struct ectx c = { e, r };

	eval(&c, e->root, NULL, v);
	if (v->type != EXPR_BOOL && v->type != EXPR_UNKNOWN)
		set_unknown(v,
		    v->type == EXPR_TEXT ? "the value is text, not true/false"
		                         : "the value is a number, not true/false",
		    NULL, NULL);
	return v->type == EXPR_UNKNOWN ? -1 : v->num != 0;
}

/* A value as text: "true", "12.5 degC", "\"OB LB\"", "unknown (ups1.temp: stale)". */
char *
expr_value_format(const struct expr_value *v, char *buf, size_t len)
{
	switch (v->type) {
	case EXPR_BOOL:
		snprintf(buf, len, "%s", v->num != 0 ? "true" : "false");
		break;
	case EXPR_NUMBER:
		if (v->unit == EU_NONE || v->unit == EU_OTHER)
			snprintf(buf, len, "%g", v->num);
		else if (v->unit == EU_PCT)
			snprintf(buf, len, "%g%%", v->num);
		else
			snprintf(buf, len, "%g %s", v->num, expr_unit_name(v->unit));
		break;
	case EXPR_TEXT:
		snprintf(buf, len, "\"%s\"", v->text);
		break;
	default:
		if (v->dev != NULL && v->metric != NULL)
			snprintf(buf, len, "unknown (%s.%s: %s)", v->dev, v->metric,
			    v->reason);
		else if (v->metric != NULL)
			snprintf(buf, len, "unknown (%s: %s)", v->metric, v->reason);
		else if (v->dev != NULL)
			snprintf(buf, len, "unknown (%s: %s)", v->dev, v->reason);
		else
			snprintf(buf, len, "unknown (%s)", v->reason);
		break;
	}
	return buf;
}
