package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

var versionCmd = &command{
	name:    "version",
	usage:   "version [flags]",
	summary: "print the version",
	about: `Print upnpmap's version (the module version 'go install' recorded, or the VCS
revision of a local build) and the Go version it was built with; -v adds the
versions of the modules built in.`,
	examples: []string{"upnpmap version", "upnpmap version --json"},
	common:   []flagGroup{outputFlags},
	run:      runVersion,
}

type versionJSON struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
	// Deps lists the modules built in, "path version" (with -v).
	Deps []string `json:"deps,omitempty"`
}

// buildVersion reads what the Go toolchain stamped into the binary.
// releaseVersion is set by scripts/release.sh with -ldflags "-X
// main.releaseVersion=V": a release build carries its version even though
// -trimpath and a build outside a module download leave the build info's
// main version as "(devel)".
var releaseVersion string

func buildVersion() versionJSON {
	v := versionJSON{Version: "(devel)", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	switch {
	case releaseVersion != "":
		v.Version = releaseVersion
	case ok && bi.Main.Version != "":
		v.Version = bi.Main.Version
	}
	if !ok {
		return v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func runVersion(_ context.Context, a *app, o *options, _ []string) error {
	v := buildVersion()
	if o.verbose {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, d := range bi.Deps {
				v.Deps = append(v.Deps, d.Path+" "+d.Version)
			}
		}
	}
	if o.json {
		return (&printer{w: a.stdout, json: true}).object(v)
	}
	rev := ""
	if v.Revision != "" {
		rev = " " + v.Revision[:min(12, len(v.Revision))]
		if v.Modified {
			rev += "+modified"
		}
	}
	if _, err := fmt.Fprintf(a.stdout, "upnpmap %s%s (%s, %s)\n", v.Version, rev, v.Go, v.Platform); err != nil {
		return err
	}
	for _, d := range v.Deps {
		if _, err := fmt.Fprintf(a.stdout, "  %s\n", d); err != nil {
			return err
		}
	}
	return nil
}
