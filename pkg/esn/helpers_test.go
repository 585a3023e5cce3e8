package esn

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
)

type randReader struct{}

func (randReader) Read(p []byte) (int, error) { return rand.Read(p) }

type big_Int = big.Int

func bigInt(v int64) *big.Int { return big.NewInt(v) }

func sprint(v any) string { return fmt.Sprintf("%v %+v %#v", v, v, v) }

func hexs(b []byte) string { return hex.EncodeToString(b) }
