//go:build !nogpio

package all

import (
	// The GPIO driver: the lines of a Linux GPIO chip, through periph.io.
	// A firmware build without GPIO drops it with -tags nogpio.
	_ "github.com/femtoclaw/femtoclaw/drivers/gpio"
)
