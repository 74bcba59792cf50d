// Package gena reads the event notifications (GENA NOTIFY, UPnP Device
// Architecture 1.1 §4.3) that a UPnP device sends to a subscriber: the
// headers that say which subscription and which event it is, and the
// property set that carries the evented variables (for IGD, the connection
// service's ExternalIPAddress and ConnectionStatus).
//
// Everything here is network input: bodies are bounded, the XML is read
// strictly, and every failure is an *Error that says which HTTP status the
// subscriber must answer (400 or 412, as the architecture prescribes).
package gena
