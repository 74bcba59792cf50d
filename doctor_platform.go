package upnpmap

// platform adds the hints that depend on the operating system: the
// permissions and firewalls that block a mapped port, or discovery itself,
// on this machine rather than on the router.
func (d *diagnosis) platform() {
	switch d.o.goos {
	case "darwin":
		d.add(Finding{Code: "MACOS_LOCAL_NETWORK", Severity: SeverityInfo,
			What: "macOS 15 and later block a program's traffic to the local network (the router included) until it is allowed",
			Fix:  "allow the program in System Settings > Privacy & Security > Local Network; also check the application firewall (Network > Firewall)"})
	case "windows":
		d.add(Finding{Code: "WINDOWS_FIREWALL", Severity: SeverityInfo,
			What: "Windows Defender Firewall drops inbound connections to a port no rule allows, also on the Private profile",
			Fix:  "allow the program or the port: New-NetFirewallRule -DisplayName upnpmap -Direction Inbound -Protocol TCP -LocalPort PORT -Action Allow"})
	}
}
