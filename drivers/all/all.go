// Package all links every field-device driver into the binary: importing it
// for its side effects registers each driver with package drivers.
//
// Each driver is one blank import, so a firmware build may later drop a
// driver it does not need with a build tag on that import's file.
package all

import (
	// The Modbus driver: tcp, udp, rtu, rtuovertcp and rtuoverudp.
	_ "github.com/femtoclaw/femtoclaw/drivers/modbus"
	// The OPC UA driver: opc.tcp with security None, Basic256Sha256,
	// Aes128_Sha256_RsaOaep and Aes256_Sha256_RsaPss.
	_ "github.com/femtoclaw/femtoclaw/drivers/opcua"
)
