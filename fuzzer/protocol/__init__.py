"""BLE protocol layers: struct-based fast paths plus one scapy module for display/pcap.

codec (table-driven PDU codec), ll (Link Layer: headers, LL control PDUs,
advertising PDUs, AD structures, error codes), l2cap (basic frames,
fragmentation, reassembly), smp, att, gatt (UUIDs, declarations),
nordic_dfu (Nordic Legacy DFU) -- none of these import scapy.
scapy_layers is the only module that does (imported on demand).
"""
