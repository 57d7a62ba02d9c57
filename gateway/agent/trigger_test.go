package agent

import (
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// TestConditionHysteresisCooldown steps a condition through a level trace
// and checks exactly when it fires.
func TestConditionHysteresisCooldown(t *testing.T) {
	c, err := CompileCondition("tank.level < 20", "tank.level > 25", 10*time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	live := NewLive()
	t0 := time.Unix(1_700_000_000, 0)
	steps := []struct {
		at    time.Duration
		level float64 // negative: no good value
		fire  bool
	}{
		{0, 30, false},
		{1 * time.Second, 19, true},  // falls below: fires
		{2 * time.Second, 18, false}, // still below: fired already
		{3 * time.Second, 22, false}, // above 20 but not above 25: not re-armed
		{4 * time.Second, 19, false}, // below again, not re-armed
		{5 * time.Second, 26, false}, // re-armed
		{6 * time.Second, 19, false}, // below, but within the cooldown
		{12 * time.Second, 19, true}, // cooldown passed
		{13 * time.Second, -1, false},
		{14 * time.Second, 30, false}, // re-armed
		{30 * time.Second, 10, true},
	}
	for i, s := range steps {
		if s.level < 0 {
			live.MarkStale("tank", []string{"level"}, time.Time{})
		} else {
			live.Update("tank", []drivers.Reading{{Point: "level", Value: drivers.Number(s.level), Quality: drivers.QualityGood}})
		}
		if got := c.Fire(live, t0.Add(s.at)); got != s.fire {
			t.Errorf("step %d (level %v at %s): got fire %v, want %v", i, s.level, s.at, got, s.fire)
		}
	}
}

// TestConditionWithoutReset re-arms as soon as the condition is false.
func TestConditionWithoutReset(t *testing.T) {
	c, err := CompileCondition("tank.level < 20", "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	live := NewLive()
	now := time.Unix(0, 0)
	var got []bool
	for _, l := range []float64{10, 10, 21, 10} {
		live.Update("tank", []drivers.Reading{{Point: "level", Value: drivers.Number(l), Quality: drivers.QualityGood}})
		got = append(got, c.Fire(live, now))
	}
	want := []bool{true, false, false, true}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %v, want %v", got, want)
			break
		}
	}
}

func TestCompileConditionRefusesBadExpressions(t *testing.T) {
	for _, src := range []string{"", "tank.level <", "1 + 1"} {
		if _, err := CompileCondition(src, "", 0, 0); err == nil {
			t.Errorf("CompileCondition(%q): got no error, want one", src)
		}
	}
}
