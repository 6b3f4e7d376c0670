package pki

import "math/big"

type bigInt = big.Int
