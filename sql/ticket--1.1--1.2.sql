/* ticket--1.1--1.2.sql: the order queue and the waitlist */

\echo Use "ALTER EXTENSION ticket UPDATE TO '1.2'" to load this file. \quit

SET LOCAL search_path = ticket, pg_catalog;
