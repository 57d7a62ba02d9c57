// Package audit checks, after a test run of the real binary, what the
// journal says was done against what the plant simulator received and what
// clients were told. The crash test and the soak both use it.
//
// Its inputs are the output of `femtoclaw journal show --json` (one record
// per line) and the simulator's write log (`femtoclaw sim --write-log`, one
// JSON line per write the plant accepted, fsynced before the simulator
// answered). It checks three invariants:
//
//   - every write that reached the plant has an intent journaled before it
//     (per point, the writes are a subsequence of the intents, in order);
//   - every intent has exactly one outcome, and an outcome that recovery
//     appended after a crash says truthfully whether the write reached the
//     plant;
//   - every actuation a client saw acknowledged has its intent with an ok
//     outcome in the journal.
package audit

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// Intent is one journaled write intent and what became of it.
type Intent struct {
	Seq       uint64
	Time      time.Time
	Principal string
	Device    string
	Point     string
	Wire      []byte // the encoded value, as the registers carry it
	Outcome   bool   // an outcome refers to it
	OK        bool   // that outcome says ok
	Recovered string // "applied", "not_applied" or "in_doubt" when recovery wrote the outcome
	Written   bool   // matched by a write the plant received
}

// Journal is what a journal's records say about writes.
type Journal struct {
	Records   int
	Intents   []*Intent
	Decisions map[string]int // by outcome: allow, deny, pending
	Problems  []string       // intents with two outcomes, unreadable bodies
	bySeq     map[uint64]*Intent
}

// ReadJournal reads `femtoclaw journal show --json` output. Only write
// intents (one point, one value) are collected; pulses and sequences are
// counted as records.
func ReadJournal(r io.Reader) (*Journal, error) {
	j := &Journal{Decisions: map[string]int{}, bySeq: map[uint64]*Intent{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		j.Records++
		var rec struct {
			Seq       uint64          `json:"seq"`
			Time      time.Time       `json:"time"`
			Kind      string          `json:"kind"`
			Principal string          `json:"principal"`
			Ref       uint64          `json:"ref"`
			Body      json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("audit: journal line %q: %w", sc.Text(), err)
		}
		switch rec.Kind {
		case "decision":
			var b struct {
				Outcome string `json:"outcome"`
				DryRun  bool   `json:"dry_run"`
			}
			if json.Unmarshal(rec.Body, &b) == nil && !b.DryRun {
				j.Decisions[b.Outcome]++
			}
		case "intent":
			var b struct {
				Action struct {
					Kind   string `json:"kind"`
					Device string `json:"device"`
					Point  string `json:"point"`
					Value  *struct {
						Wire []byte `json:"wire"`
					} `json:"value"`
				} `json:"action"`
			}
			if err := json.Unmarshal(rec.Body, &b); err != nil {
				j.Problems = append(j.Problems, fmt.Sprintf("intent %d: body unreadable: %v", rec.Seq, err))
				continue
			}
			if b.Action.Kind != "write" || b.Action.Value == nil {
				continue
			}
			in := &Intent{Seq: rec.Seq, Time: rec.Time, Principal: rec.Principal, Device: b.Action.Device, Point: b.Action.Point, Wire: b.Action.Value.Wire}
			j.Intents = append(j.Intents, in)
			j.bySeq[rec.Seq] = in
		case "outcome":
			in, ok := j.bySeq[rec.Ref]
			if !ok {
				continue // a read's outcome, or a pulse's
			}
			if in.Outcome {
				j.Problems = append(j.Problems, fmt.Sprintf("intent %d has two outcomes", in.Seq))
			}
			var b struct {
				OK        bool   `json:"ok"`
				Recovered string `json:"recovered"`
			}
			json.Unmarshal(rec.Body, &b)
			in.Outcome, in.OK, in.Recovered = true, b.OK, b.Recovered
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("audit: journal: %w", err)
	}
	return j, nil
}

// Write is one write the plant accepted, from the simulator's write log.
type Write struct {
	Time    time.Time `json:"time"`
	Table   string    `json:"table"`
	Address uint64    `json:"address"`
	Values  []uint64  `json:"values"`
}

// Wire returns the registers written as the bytes on the wire (big-endian
// per register), comparable with Intent.Wire; a coil is one byte, 0 or 1.
func (w Write) Wire() []byte {
	if w.Table == "coil" {
		out := make([]byte, len(w.Values))
		for i, v := range w.Values {
			out[i] = byte(v)
		}
		return out
	}
	out := make([]byte, 2*len(w.Values))
	for i, v := range w.Values {
		binary.BigEndian.PutUint16(out[2*i:], uint16(v))
	}
	return out
}

// Load reads what a run left behind: the journal in dataDir, printed by the
// femtoclaw binary at bin (`journal show --json`), and the simulator's write
// log at writeLog.
func Load(bin, dataDir, writeLog string) (*Journal, []Write, error) {
	out, err := exec.Command(bin, "journal", "show", "--json", "--data", dataDir).Output()
	if err != nil {
		return nil, nil, fmt.Errorf("audit: journal show: %w", err)
	}
	j, err := ReadJournal(bytes.NewReader(out))
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(writeLog)
	if err != nil {
		return nil, nil, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	writes, err := ReadWriteLog(f)
	if err != nil {
		return nil, nil, err
	}
	return j, writes, nil
}

// ReadWriteLog reads a simulator write log.
func ReadWriteLog(r io.Reader) ([]Write, error) {
	var out []Write
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var w Write
		if err := json.Unmarshal(sc.Bytes(), &w); err != nil {
			return nil, fmt.Errorf("audit: write log line %q: %w", sc.Text(), err)
		}
		out = append(out, w)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("audit: write log: %w", err)
	}
	return out, nil
}

// Register names the point a write log entry's table and address belong to.
type Register struct {
	Table   string
	Address uint64
}

// Ack is an actuation a client saw acknowledged.
type Ack struct {
	Point string
	Wire  []byte
}

// Report is what Check found. The lists hold one line per violation.
type Report struct {
	Intents   int
	Writes    int
	Recovered map[string]int // by how recovery resolved them

	Unresolved          []string // intents with no outcome
	WritesWithoutIntent []string // the plant received a write no intent announced
	RecoveredWrong      []string // recovery said applied/not_applied and the plant says otherwise
	AckedMissing        []string // acknowledged, but no intent with an ok outcome
	Other               []string // the journal's own problems, writes to unknown registers
}

// Violations is the number of broken invariants.
func (r Report) Violations() int {
	return len(r.Unresolved) + len(r.WritesWithoutIntent) + len(r.RecoveredWrong) + len(r.AckedMissing) + len(r.Other)
}

// Check compares the journal j with the plant's writes and the clients'
// acknowledged actuations. points maps the registers the writes may touch
// to point names; acks must be in the order each client saw them (one
// client per point, or the subsequence check is too strict).
//
// An intent's outcome is checked against the plant only when its value
// differs from the point's previous intent: when it repeats it, neither the
// write log nor reading the point back can tell the two writes apart.
func Check(j *Journal, writes []Write, points map[Register]string, acks []Ack) Report {
	rep := Report{Intents: len(j.Intents), Writes: len(writes), Recovered: map[string]int{}}
	rep.Other = append(rep.Other, j.Problems...)
	perPoint := map[string][]*Intent{}
	for _, in := range j.Intents {
		perPoint[in.Point] = append(perPoint[in.Point], in)
		if !in.Outcome {
			rep.Unresolved = append(rep.Unresolved, fmt.Sprintf("intent %d (%s=%x) has no outcome", in.Seq, in.Point, in.Wire))
		}
		if in.Recovered != "" {
			rep.Recovered[in.Recovered]++
		}
	}

	next := map[string]int{}
	for _, w := range writes {
		point, ok := points[Register{w.Table, w.Address}]
		if !ok {
			rep.Other = append(rep.Other, fmt.Sprintf("the plant received a write to %s %d, which no point maps", w.Table, w.Address))
			continue
		}
		wire := w.Wire()
		list := perPoint[point]
		i := next[point]
		for i < len(list) && !bytes.Equal(list[i].Wire, wire) {
			i++
		}
		if i == len(list) {
			rep.WritesWithoutIntent = append(rep.WritesWithoutIntent, fmt.Sprintf("the plant received %s=%x at %s with no journaled intent before it", point, wire, w.Time.Format(time.RFC3339Nano)))
			continue
		}
		if list[i].Time.After(w.Time) {
			rep.WritesWithoutIntent = append(rep.WritesWithoutIntent, fmt.Sprintf("intent %d (%s=%x) journaled at %s, after the plant received the write at %s",
				list[i].Seq, point, wire, list[i].Time.Format(time.RFC3339Nano), w.Time.Format(time.RFC3339Nano)))
		}
		list[i].Written = true
		next[point] = i + 1
	}

	for _, list := range perPoint {
		for k, in := range list {
			if k > 0 && bytes.Equal(list[k-1].Wire, in.Wire) {
				continue // a repeated value: the plant cannot tell the two apart
			}
			if in.Recovered == "" {
				if in.OK && !in.Written {
					rep.RecoveredWrong = append(rep.RecoveredWrong, fmt.Sprintf("intent %d (%s=%x) has an ok outcome, but the plant never received it", in.Seq, in.Point, in.Wire))
				}
				continue
			}
			switch {
			case in.Recovered == "applied" && !in.Written:
				rep.RecoveredWrong = append(rep.RecoveredWrong, fmt.Sprintf("intent %d (%s=%x) recovered as applied, but the plant never received it", in.Seq, in.Point, in.Wire))
			case in.Recovered == "not_applied" && in.Written:
				rep.RecoveredWrong = append(rep.RecoveredWrong, fmt.Sprintf("intent %d (%s=%x) recovered as not_applied, but the plant received it", in.Seq, in.Point, in.Wire))
			}
		}
	}

	next = map[string]int{}
	for _, a := range acks {
		list := perPoint[a.Point]
		i := next[a.Point]
		for i < len(list) && !(bytes.Equal(list[i].Wire, a.Wire) && list[i].OK && list[i].Recovered == "") {
			i++
		}
		if i == len(list) {
			rep.AckedMissing = append(rep.AckedMissing, fmt.Sprintf("acknowledged %s=%x has no intent with an ok outcome in the journal", a.Point, a.Wire))
			continue
		}
		next[a.Point] = i + 1
	}
	return rep
}
