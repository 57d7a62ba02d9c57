package soak

import "testing"

// TestSeqTrack runs in `make test`: the soak's loss count must be able to
// find a loss.
func TestSeqTrack(t *testing.T) {
	tests := []struct {
		name       string
		seqs       []uint64
		runs, dups int
		lost       uint64
	}{
		{"in order", []uint64{1, 2, 3, 4}, 1, 0, 0},
		{"duplicate", []uint64{1, 2, 2, 3}, 1, 1, 0},
		{"gap", []uint64{1, 2, 5, 6}, 1, 0, 2},
		{"restart", []uint64{1, 2, 3, 1, 2}, 2, 0, 0},
		{"gap after a restart", []uint64{1, 2, 1, 3}, 2, 0, 1},
		{"missed start", []uint64{3, 4}, 1, 0, 2},
		{"first duplicated", []uint64{1, 1, 2}, 1, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s seqTrack
			for _, q := range tt.seqs {
				s.see(q)
			}
			if s.runs != tt.runs || s.duplicates != tt.dups || s.lost != tt.lost {
				t.Errorf("got runs %d, duplicates %d, lost %d; want %d, %d, %d", s.runs, s.duplicates, s.lost, tt.runs, tt.dups, tt.lost)
			}
		})
	}
}
