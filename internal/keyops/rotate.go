package keyops

import (
	"context"

	"github.com/imdsd/imdsd/internal/broker"
	"github.com/imdsd/imdsd/internal/keyrotate"
)

// Rotate replaces the profile's key in the keyring with a new one
// (keyrotate.Rotate: create, wait until AWS accepts it, store, delete the
// old one), calling STS and IAM with the profile's region and endpoint
// settings from the AWS files. progress hears each step.
func Rotate(ctx context.Context, o Options, profile string, progress func(string)) (keyrotate.Result, error) {
	store, err := o.open()
	if err != nil {
		return keyrotate.Result{}, err
	}
	return keyrotate.Rotate(ctx, keyrotate.Options{
		Store:    store,
		Profile:  profile,
		STS:      broker.STSOptions{Files: o.Files, HTTPClient: o.HTTPClient},
		Progress: progress,
	})
}
