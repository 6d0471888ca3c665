package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/sextant-ml/sextant/delivery"
)

// CreateToken makes a token of scope, stores its hash and returns the token
// with its secret, which exists nowhere else: show it once.
func CreateToken(ctx context.Context, ts delivery.Tokens, scope delivery.Scope, name string) (delivery.Token, string, error) {
	if !delivery.ValidScope(scope) {
		return delivery.Token{}, "", delivery.Errorf(delivery.ErrInvalid, "unknown scope %q: want read, publish, rollout or enroll", scope)
	}
	var id [8]byte
	rand.Read(id[:])
	secret := "sxt_" + randomString(32)
	tok, err := ts.CreateToken(ctx, delivery.Token{
		ID: "tok_" + hex.EncodeToString(id[:]), Hash: delivery.HashSecret(secret), Scope: scope, Name: name,
	})
	if err != nil {
		return delivery.Token{}, "", err
	}
	return tok, secret, nil
}
