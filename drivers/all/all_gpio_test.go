//go:build !nogpio

package all

import (
	"slices"
	"testing"

	"github.com/femtoclaw/femtoclaw/drivers"
)

func TestRegistersGPIO(t *testing.T) {
	if !slices.Contains(drivers.Registered(), "gpio") {
		t.Errorf("drivers.Registered: got %v, want it to hold %q", drivers.Registered(), "gpio")
	}
}
