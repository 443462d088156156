#!/usr/bin/perl
# functions_of.pl FILE...: print every function of the extension's SQL
# source (each CREATE OR REPLACE FUNCTION with the comments above it, its
# COMMENT ON FUNCTION and its GRANT / REVOKE ... ON FUNCTION), in the order
# written.  The Makefile appends this to the hand-written delta of the next
# version, so an update script always carries today's function bodies and
# nobody copies a function into an update script by hand.
use strict;
use warnings;

local $/;
for my $file (@ARGV) {
	open my $fh, '<', $file or die "$file: $!";
	my $text = <$fh>;
	close $fh;
	for my $chunk (split_statements($text)) {
		(my $stmt = $chunk) =~ s/\A(?:\s+|--[^\n]*\n)*//;
		print "$chunk\n"
		  if $stmt =~ /\ACREATE\s+OR\s+REPLACE\s+(?:FUNCTION|PROCEDURE)\b/i
		  || $stmt =~ /\ACOMMENT\s+ON\s+(?:FUNCTION|PROCEDURE)\b/i
		  || $stmt =~ /\A(?:GRANT|REVOKE)\b[^;]*?\bON\s+(?:FUNCTION|PROCEDURE)\b/i;
		die "$file: CREATE FUNCTION without OR REPLACE cannot be carried into an update script:\n$stmt\n"
		  if $stmt =~ /\ACREATE\s+(?:FUNCTION|PROCEDURE)\b/i;
	}
}

# Statements with the comment lines before them; semicolons inside quotes,
# dollar quotes and comments do not end a statement.
sub split_statements {
	my ($text) = @_;
	my @chunks;
	my $start = 0;
	pos($text) = 0;
	while (pos($text) < length $text) {
		if ($text =~ /\G--[^\n]*\n?/gc || $text =~ /\G\/\*.*?\*\//gcs
			|| $text =~ /\G'(?:[^']|'')*'/gc || $text =~ /\G"[^"]*"/gc) {
			next;
		}
		if ($text =~ /\G(\$[A-Za-z_]\w*\$|\$\$)/gc) {
			my $tag = $1;
			$text =~ /\G.*?\Q$tag\E/gcs or die "unterminated $tag";
			next;
		}
		if ($text =~ /\G;/gc) {
			my $chunk = substr($text, $start, pos($text) - $start);
			$chunk =~ s/\A\n+//;
			push @chunks, $chunk;
			$start = pos($text);
			next;
		}
		$text =~ /\G[^-\/'"\$;]+|\G./gcs;
	}
	return @chunks;
}
