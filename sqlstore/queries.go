package sqlstore

import "strconv"

// queries holds the store's statements, expanded for its dialect and
// tables once, in New.
type queries struct {
	claim, markInDoubt, complete, releaseFree, releaseInDoubt, get, forget, heldLive string
	claimCallback, completeCallback, releaseCallback                                 string
	extendPause, pausedUntil                                                         string
	prune                                                                            []string
}

// pruneBatch is how many expired rows of a table one prune statement
// deletes at most, so that one write never waits on a large delete.
const pruneBatch = 1000

// keyColumns are the columns of a KeyRecord, as scanKey reads them.
const keyColumns = `key, fingerprint, holder, {micros lease_until}, in_doubt, {micros sent_at}, done, result`

// Conditions on the stored row k (idempotency key) or c (callback), in an
// upsert whose new row is excluded. A row past expires_at is absent: an
// upsert treats it as a new row.
const (
	keyLive = `k.expires_at > {now}`
	// keyClaimable: absent, or not done and held by this token, by no one,
	// or by a lease that ran out.
	keyClaimable = `(k.expires_at <= {now} OR (NOT k.done AND (k.holder = excluded.holder OR k.holder = '' OR k.lease_until IS NULL OR k.lease_until <= {now})))`
	// keyOpen: no outcome recorded yet (or the record expired).
	keyOpen = `(k.expires_at <= {now} OR NOT k.done)`
	// callbackClaimable: absent, or not done and held by this token or by
	// a lease that ran out.
	callbackClaimable = `(c.expires_at <= {now} OR (NOT c.done AND (c.holder = excluded.holder OR c.lease_until IS NULL OR c.lease_until <= {now})))`
)

// ifElse writes CASE WHEN cond THEN then ELSE other END.
func ifElse(cond, then, other string) string {
	return "CASE WHEN " + cond + " THEN " + then + " ELSE " + other + " END"
}

// Claim always updates the row it conflicts with (with its own values when
// the claim is refused), so that one statement returns the record as it
// stands after the call, whoever won. A record lives for the retention
// after its last change, and never less than its lease.
var claimSQL = `INSERT INTO {keys} AS k (key, fingerprint, holder, lease_until, in_doubt, sent_at, done, result, expires_at)
VALUES ($1, $2, $3, {later $4}, FALSE, NULL, FALSE, NULL, {max {later $5}, {later $4}})
ON CONFLICT (key) DO UPDATE SET
	fingerprint = ` + ifElse(keyLive, "k.fingerprint", "excluded.fingerprint") + `,
	in_doubt = ` + ifElse(keyLive, "k.in_doubt", "FALSE") + `,
	sent_at = ` + ifElse(keyLive, "k.sent_at", "NULL") + `,
	done = ` + ifElse(keyLive, "k.done", "FALSE") + `,
	result = ` + ifElse(keyLive, "k.result", "NULL") + `,
	holder = ` + ifElse(keyClaimable, "excluded.holder", "k.holder") + `,
	lease_until = ` + ifElse(keyClaimable, "excluded.lease_until", "k.lease_until") + `,
	expires_at = ` + ifElse(keyClaimable, "excluded.expires_at", "k.expires_at") + `
RETURNING ` + keyColumns

// MarkInDoubt keeps the earliest SentAt of the key while it is in doubt.
var markInDoubtSQL = `UPDATE {keys} SET
	sent_at = ` + ifElse("in_doubt AND sent_at IS NOT NULL AND sent_at <= {at $3}", "sent_at", "{at $3}") + `,
	in_doubt = TRUE,
	expires_at = {max {later $4}, COALESCE(lease_until, {later $4})}
WHERE key = $1 AND holder = $2 AND NOT done AND expires_at > {now}`

// Complete records the first outcome; a later one leaves the row as it is.
var completeSQL = `INSERT INTO {keys} AS k (key, fingerprint, holder, lease_until, in_doubt, sent_at, done, result, expires_at)
VALUES ($1, '', '', NULL, FALSE, NULL, TRUE, $2, {later $3})
ON CONFLICT (key) DO UPDATE SET
	fingerprint = ` + ifElse(keyLive, "k.fingerprint", "''") + `,
	sent_at = ` + ifElse(keyLive, "k.sent_at", "NULL") + `,
	result = ` + ifElse(keyOpen, "excluded.result", "k.result") + `,
	in_doubt = ` + ifElse(keyOpen, "FALSE", "k.in_doubt") + `,
	holder = ` + ifElse(keyOpen, "''", "k.holder") + `,
	lease_until = ` + ifElse(keyOpen, "NULL", "k.lease_until") + `,
	expires_at = ` + ifElse(keyOpen, "excluded.expires_at", "k.expires_at") + `,
	done = TRUE
RETURNING ` + keyColumns

const heldBy = `key = $1 AND holder = $2 AND NOT done AND expires_at > {now}`

var (
	releaseFreeSQL    = `DELETE FROM {keys} WHERE ` + heldBy
	releaseInDoubtSQL = `UPDATE {keys} SET holder = '', lease_until = NULL, in_doubt = TRUE, expires_at = {later $3} WHERE ` + heldBy
	getSQL            = `SELECT ` + keyColumns + ` FROM {keys} WHERE key = $1 AND expires_at > {now}`
	// Forget leaves a key under a live lease: its holder may be sending.
	forgetSQL   = `DELETE FROM {keys} WHERE key = $1 AND (expires_at <= {now} OR done OR holder = '' OR lease_until IS NULL OR lease_until <= {now})`
	heldLiveSQL = `SELECT COUNT(*) FROM {keys} WHERE key = $1 AND expires_at > {now} AND NOT done AND holder <> '' AND lease_until > {now}`
)

// ClaimCallback, like Claim, always returns the row; an unfinished claim
// expires with its lease.
var claimCallbackSQL = `INSERT INTO {callbacks} AS c (key, holder, lease_until, done, expires_at)
VALUES ($1, $2, {later $3}, FALSE, {later $3})
ON CONFLICT (key) DO UPDATE SET
	holder = ` + ifElse(callbackClaimable, "excluded.holder", "c.holder") + `,
	lease_until = ` + ifElse(callbackClaimable, "excluded.lease_until", "c.lease_until") + `,
	done = ` + ifElse(callbackClaimable, "FALSE", "c.done") + `,
	expires_at = ` + ifElse(callbackClaimable, "excluded.expires_at", "c.expires_at") + `
RETURNING holder, done, {micros lease_until}, {micros {now}}`

// CompleteCallback returns no row when the callback was already done:
// CompleteCallbackTx reports that as ErrCallbackDone. On PostgreSQL the
// conflicting row stays locked until the statement's transaction ends, so
// a second completion waits for the first to commit or roll back.
var completeCallbackSQL = `INSERT INTO {callbacks} AS c (key, holder, lease_until, done, expires_at)
VALUES ($1, '', NULL, TRUE, {later $2})
ON CONFLICT (key) DO UPDATE SET holder = '', lease_until = NULL, done = TRUE, expires_at = excluded.expires_at
WHERE NOT c.done OR c.expires_at <= {now}
RETURNING done`

var releaseCallbackSQL = `DELETE FROM {callbacks} WHERE ` + heldBy

var (
	extendPauseSQL = `INSERT INTO {pauses} AS p (scope, paused_until) VALUES ($1, {at $2})
ON CONFLICT (scope) DO UPDATE SET paused_until = {max p.paused_until, excluded.paused_until}
RETURNING {micros paused_until}`
	pausedUntilSQL = `SELECT {micros paused_until} FROM {pauses} WHERE scope = $1`
)

// pruneSQL deletes a batch of a table's expired rows (PostgreSQL's DELETE
// has no LIMIT, hence the subquery). The outer test of the expiry is not
// redundant: on PostgreSQL, a row the subquery picked but another
// transaction renewed meanwhile (a claim or a completion) is checked again
// once that transaction commits, and spared.
func pruneSQL(table, id, expires string) string {
	expired := expires + ` <= {now}`
	return `DELETE FROM ` + table + ` WHERE ` + expired + ` AND ` + id + ` IN (SELECT ` + id + ` FROM ` + table +
		` WHERE ` + expired + ` LIMIT ` + strconv.Itoa(pruneBatch) + `)`
}

func buildQueries(f *flavor, t tables) queries {
	x := func(template string) string { return f.sql(t, template) }
	return queries{
		claim:            x(claimSQL),
		markInDoubt:      x(markInDoubtSQL),
		complete:         x(completeSQL),
		releaseFree:      x(releaseFreeSQL),
		releaseInDoubt:   x(releaseInDoubtSQL),
		get:              x(getSQL),
		forget:           x(forgetSQL),
		heldLive:         x(heldLiveSQL),
		claimCallback:    x(claimCallbackSQL),
		completeCallback: x(completeCallbackSQL),
		releaseCallback:  x(releaseCallbackSQL),
		extendPause:      x(extendPauseSQL),
		pausedUntil:      x(pausedUntilSQL),
		prune: []string{
			x(pruneSQL("{keys}", "key", "expires_at")),
			x(pruneSQL("{callbacks}", "key", "expires_at")),
			x(pruneSQL("{pauses}", "scope", "paused_until")),
		},
	}
}
