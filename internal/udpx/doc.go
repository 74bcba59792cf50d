// Package udpx holds the request/response machinery that the NAT-PMP and PCP
// clients share: a connected UDP socket whose reads end with a context, the
// retransmission loop that drives one exchange, and a context-aware lock that
// keeps one exchange per client in flight.
//
// Everything here is protocol-neutral. The protocols decide what to send, when
// to send it again (a Schedule) and which datagram answers the request (a
// Handler); udpx decides nothing about bytes.
package udpx
