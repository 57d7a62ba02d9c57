package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// CommissioningFile is the file in the data dir where the commissioning
// script (firmware/commission.sh) leaves the outcome of the last config
// placed on the boot partition. It is plain text, written by a shell script:
//
//	result: refused
//	time: 2026-03-01T08:00:00Z
//	source: /boot/firmware/femtoclaw.yaml
//	sha256: 3f1c...
//	problems:
//	/boot/firmware/femtoclaw.yaml:12:5: devices[0]: unknown key "adress"
//
// result is applied or refused; every line after "problems:" is one problem
// as femtoclaw check prints it.
const CommissioningFile = "commissioning.status"

// CommissioningTopic is the subtopic, under the MQTT prefix, where the
// gateway publishes the commissioning outcome it found at start-up, retained.
const CommissioningTopic = "commissioning"

// CommissioningStatus is the payload of CommissioningTopic.
type CommissioningStatus struct {
	// Result is applied (the config now runs) or refused (the gateway kept
	// its previous config).
	Result string `json:"result"`
	// Time is when the commissioning script ran, RFC 3339.
	Time string `json:"time,omitempty"`
	// Source is the file the technician placed.
	Source string `json:"source,omitempty"`
	// SHA256 is the hex SHA-256 of that file.
	SHA256 string `json:"sha256,omitempty"`
	// Problems are the reasons of a refusal, one FILE:LINE:COL: message each.
	Problems []string `json:"problems,omitempty"`
}

// ParseCommissioningStatus parses the text of a CommissioningFile.
func ParseCommissioningStatus(data []byte) (CommissioningStatus, error) {
	var s CommissioningStatus
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	inProblems := false
	for sc.Scan() {
		line := sc.Text()
		if inProblems {
			if strings.TrimSpace(line) != "" {
				s.Problems = append(s.Problems, line)
			}
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.TrimSpace(key) {
		case "result":
			s.Result = value
		case "time":
			s.Time = value
		case "source":
			s.Source = value
		case "sha256":
			s.SHA256 = value
		case "problems":
			inProblems = true
		}
	}
	if err := sc.Err(); err != nil {
		return s, fmt.Errorf("gateway: %s: %w", CommissioningFile, err)
	}
	if s.Result != "applied" && s.Result != "refused" {
		return s, fmt.Errorf("gateway: %s: result %q, want applied or refused", CommissioningFile, s.Result)
	}
	return s, nil
}

// publishCommissioning publishes the outcome the commissioning script left
// in dataDir, if any, retained on CommissioningTopic.
func publishCommissioning(dataDir string, publish func(subtopic string, payload []byte), logger *slog.Logger) {
	data, err := os.ReadFile(filepath.Join(dataDir, CommissioningFile))
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		logger.Warn("commissioning status unreadable", "err", err)
		return
	}
	s, err := ParseCommissioningStatus(data)
	if err != nil {
		logger.Warn("commissioning status unreadable", "err", err)
		return
	}
	b, err := json.Marshal(s)
	if err != nil {
		logger.Warn("commissioning status", "err", err)
		return
	}
	if s.Result == "refused" {
		logger.Warn("a commissioning config was refused; the previous config runs", "source", s.Source, "problems", len(s.Problems))
	}
	publish(CommissioningTopic, b)
}
