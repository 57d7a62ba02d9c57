package journal

import "fmt"

// OpenIntents returns every intent that has no outcome, oldest first: the
// actions that were about to be, or were being, carried out when the
// gateway stopped. An outcome closes the intent its Ref names. Recovery at
// start-up resolves each one by reading the device back and appends the
// outcome; nothing is executed again.
func (j *Journal) OpenIntents() ([]Record, error) {
	var open []Record
	index := map[uint64]int{} // intent seq -> position in open
	err := j.Scan(1, func(r Record) error {
		switch r.Kind {
		case KindIntent:
			index[r.Seq] = len(open)
			open = append(open, r)
		case KindOutcome:
			if i, ok := index[r.Ref]; ok {
				open[i].Seq = 0 // closed
				delete(index, r.Ref)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("journal: open intents: %w", err)
	}
	out := open[:0]
	for _, r := range open {
		if r.Seq != 0 {
			out = append(out, r)
		}
	}
	return out, nil
}
